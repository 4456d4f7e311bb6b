using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Reports;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Classifier;

/// <summary>Everything <c>trainer classify</c> needs.</summary>
internal sealed record ClassifyRequest
{
    /// <summary>Folder per class or labels file.</summary>
    public required string Data { get; init; }

    /// <summary>Models folder: the package goes to <c>classifier/&lt;version&gt;</c>, the run's report to <c>runs/</c>.</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>Recall the threshold must reach, in (0, 1).</summary>
    public double RecallTarget { get; init; } = 0.99;

    /// <summary>Architecture name.</summary>
    public string Arch { get; init; } = Architectures.ResNet18;

    /// <summary><c>imagenet</c> (the pretrained ResNet-18), <c>none</c>, or null: imagenet for resnet18, none otherwise.</summary>
    public string? Pretrained { get; init; }

    /// <summary>Square input size; 0 chooses it from the data (<see cref="InputSize"/>).</summary>
    public int ImageSize { get; init; }

    /// <summary>Train only the head on cached backbone features (<see cref="HeadOnlyTraining"/>).</summary>
    public bool HeadOnly { get; init; }

    /// <summary>Width multiplier.</summary>
    public double WidthMultiplier { get; init; } = 0.5;

    /// <summary>1, 3, or null to decide from the images.</summary>
    public int? Channels { get; init; }

    /// <summary>Dataset reading and split.</summary>
    public ClassificationDataOptions DataOptions { get; init; } = new();

    /// <summary>Optimisation.</summary>
    public TrainingOptions Training { get; init; } = new();

    /// <summary>Augmentation of the training split.</summary>
    public AugmentOptions Augment { get; init; } = new();

    /// <summary><c>auto</c> (the current package's weights when they fit), <c>scratch</c>, or a package folder.</summary>
    public string Init { get; init; } = "auto";

    /// <summary>Continue the latest unfinished run from its checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Make the result current even if the gate says no (recorded in the manifest).</summary>
    public bool Force { get; init; }

    /// <summary>Gate: test AUROC floor.</summary>
    public double MinAuroc { get; init; } = new ClassifierGatePolicy { RecallTarget = 0.5 }.MinAuroc;

    /// <summary>Gate: test specificity floor.</summary>
    public double MinSpecificity { get; init; } = new ClassifierGatePolicy { RecallTarget = 0.5 }.MinSpecificity;

    /// <summary>Gate: largest allowed specificity drop against the deployed model.</summary>
    public double MaxSpecificityDrop { get; init; } = new ClassifierGatePolicy { RecallTarget = 0.5 }.MaxSpecificityDrop;

    /// <summary>Gate: the recall's 95% lower bound must reach the target too.</summary>
    public bool RequireBound { get; init; }

    /// <summary>Package version; default: UTC time.</summary>
    public string? Version { get; init; }
}

/// <summary>Outcome of a run.</summary>
internal sealed record ClassifyResult(string PackageDirectory, bool IsCurrent, GateDecision Gate, string RunDirectory, ThresholdChoice Choice, BinaryReport Test);

/// <summary>
/// One classifier run end to end: read and split the data, train with recall-weighted loss, choose the threshold on
/// validation, measure the untouched test split, apply the quality gate against the current model, write the package
/// (as <c>current</c> only if the gate passes or <c>--force</c>), and write the report.
/// </summary>
internal sealed class ClassifierRun(ITrainingProgress progress)
{
    /// <summary>Runs; throws <see cref="DatasetException"/>, <see cref="ModelPackageException"/>, <see cref="TrainingDivergedException"/> or <see cref="ArgumentException"/> with a message naming the problem.</summary>
    public ClassifyResult Run(ClassifyRequest request)
    {
        Validate(request);
        var wall = Stopwatch.StartNew();
        var dataset = LoadDataset(request);
        var (runDir, version) = RunFolder.Open(request.ModelsDirectory, ModelTasks.Classifier, request.Version, request.Resume, request, progress);
        dataset.WriteSplitFile(Path.Combine(runDir, "split.csv"));
        var (spec, train, validation, test, model, initFrom, posWeight, device) = Prepare(request, dataset);
        using var disposeModel = model;
        var augmenter = new Augmenter(request.Augment, spec, request.Training.Seed);
        using var task = CreateTask(request, model, train, validation, posWeight, augmenter, device, initFrom);
        var trained = request.HeadOnly
            ? HeadOnlyTraining.Fit((ResNet18Classifier)model, train, validation, posWeight, request.Training, augmenter, progress, device)
            : new TrainingLoop(request.Training, progress).Train(task, RunFolder.Checkpoint(runDir), request.Resume);
        if (trained.Search is not null)
        {
            LrFindPlot.Write(Path.Combine(runDir, "lr-find.png"), trained.Search);
        }

        // The threshold and every figure the gate judges come from the exported model run through
        // Inspection.Inference, exactly as the daemon will run it, not from TorchSharp's scores.
        var content = new PackageContent
        {
            Task = ModelTasks.Classifier,
            Arch = request.Arch,
            Input = spec,
            Output = new OutputSpec { Cam = model is IPooledClassifier ? PooledClassifier.CamOutput : null },
            Threshold = new ThresholdSpec { Value = 0.5 },
            Training = new TrainingSpec
            {
                Dataset = dataset.Source,
                DatasetFingerprint = dataset.Fingerprint,
                Split = dataset.SplitSummary(),
                Epochs = trained.History.Count,
                Augmentation = request.Augment.Describe(),
                InitFrom = initFrom,
            },
            Version = version,
        };
        using var staged = ModelPackageWriter.Stage(request.ModelsDirectory, model, content, new ProgressWriter(progress));
        var policy = GatePolicy(request);
        var judged = ClassifierJudgement.Judge(staged.Package, validation, test, policy, request.ModelsDirectory, request.Force, progress);
        var (choice, valScores, testScores, valReport, testReport, testAtF1, comparison, gate) =
            (judged.Choice, judged.ValidationScores, judged.TestScores, judged.Validation, judged.Test, judged.TestAtBestF1, judged.Comparison, judged.Gate);
        var makeCurrent = gate.Pass || request.Force;
        var metrics = judged.Metrics();
        metrics["training"] = new()
        {
            ["images_per_second"] = trained.ImagesPerSecond,
            ["train_seconds"] = trained.TrainSeconds,
            ["best_epoch"] = trained.BestEpoch,
            ["pos_weight"] = posWeight,
            ["soft_labels"] = request.Training.SoftLabels ? 1 : 0,
            ["width_multiplier"] = request.WidthMultiplier,
            ["learning_rate"] = trained.LearningRate,
            ["learning_rate_found"] = request.Training.AutoLearningRate ? 1 : 0,
        };
        EpochAverage.Record(metrics["training"], request.Training.AverageLast, trained.Averaged);
        content = content with
        {
            Threshold = judged.ThresholdSpec(),
            Metrics = metrics,
            Gate = gate.Record(policy.ToString(), request.Force),
        };
        var written = staged.Commit(content, makeCurrent, new Dictionary<string, string> { ["GATE.txt"] = gate.Note(policy.ToString(), request.Force), [DeployedComparison.SplitFile] = dataset.SplitCsv() });
        progress.Message(makeCurrent
            ? $"package {written.Package.Directory} is now current"
            : $"package {written.Package.Directory} kept beside the current one (not made current): {gate.Reason}");

        wall.Stop();
        var report = new RunReportData(request, dataset, spec, trained.History, trained.BestEpoch, trained.Averaged, posWeight, choice, valScores, judged.ValidationLabels, testScores, judged.TestLabels,
            valReport, testReport, testAtF1, judged.BestF1Threshold, comparison?.Deployed, comparison?.Version, gate, makeCurrent, written, test.Images, wall.Elapsed, trained.ImagesPerSecond);
        RunReport.Write(runDir, report);
        RunFolder.MarkDone(runDir, written.Package.Directory);
        progress.Message($"report: {Path.Combine(runDir, "report.md")}");
        return new ClassifyResult(written.Package.Directory, makeCurrent, gate, runDir, choice, testReport);
    }

    /// <summary>The quality gate policy a request asks for.</summary>
    public static ClassifierGatePolicy GatePolicy(ClassifyRequest request) => new()
    {
        RecallTarget = request.RecallTarget,
        MinAuroc = request.MinAuroc,
        MinSpecificity = request.MinSpecificity,
        MaxSpecificityDrop = request.MaxSpecificityDrop,
        RequireBound = request.RequireBound,
    };

    /// <summary>
    /// The learning-rate range test (<c>trainer lr-find</c>) on the network and data a run with <paramref name="request"/>
    /// would train (frozen parameter groups stay frozen, as in its first epoch); nothing is written.
    /// </summary>
    public LrFindResult FindLearningRate(ClassifyRequest request, LrFindOptions sweep)
    {
        Validate(request);
        var dataset = LoadDataset(request);
        var (spec, train, validation, _, model, initFrom, posWeight, device) = Prepare(request, dataset);
        using var disposeModel = model;
        using var task = CreateTask(request, model, train, validation, posWeight, new Augmenter(request.Augment, spec, request.Training.Seed), device, initFrom);
        return new TrainingLoop(request.Training, progress).FindLearningRate(task, sweep);
    }

    // A pretrained (or package-initialised) ResNet-18 fine-tunes: head alone first, then the backbone at a lower rate.
    private static ClassifierTask CreateTask(ClassifyRequest request, nn.Module<Tensor, Tensor> model, TensorSet train, TensorSet validation, double posWeight,
        Augmenter augmenter, Device device, string? initFrom)
    {
        var groups = initFrom is not null && model is ResNet18Classifier resnet ? Pretraining.FineTuningGroups(resnet, request.Training.Epochs) : null;
        return new ClassifierTask(model, train, validation, posWeight, augmenter, request.Training.BatchSize, device, groups, request.Training.SoftLabels);
    }

    private static void Validate(ClassifyRequest request)
    {
        if (!(request.RecallTarget > 0 && request.RecallTarget < 1))
        {
            throw new ArgumentException($"--recall-target must be in (0, 1), e.g. 0.99 (got {request.RecallTarget.ToString(CultureInfo.InvariantCulture)})");
        }

        request.Training.Validate();

        if (new[] { request.MinAuroc, request.MinSpecificity, request.MaxSpecificityDrop }.Any(v => v is < 0 or > 1 || double.IsNaN(v)))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--min-auroc, --min-specificity and --max-specificity-drop must be in [0, 1] (got {request.MinAuroc}, {request.MinSpecificity}, {request.MaxSpecificityDrop})"));
        }

        if (request.ImageSize != 0 && request.ImageSize < 32)
        {
            throw new ArgumentException($"--image-size must be at least 32, or 0 to choose it from the data (got {request.ImageSize})");
        }

        Pretraining.Resolve(request.Arch, request.Pretrained);
        if (request.Arch == Architectures.ResNet18 && request.ImageSize % ResNet18Encoder.SizeMultiple != 0)
        {
            throw new ArgumentException($"--image-size {request.ImageSize}: the ResNet-18 takes sides that are multiples of {ResNet18Encoder.SizeMultiple} (e.g. 224), or 0 to choose from the data");
        }

        if (request.HeadOnly && request.Arch != Architectures.ResNet18)
        {
            throw new ArgumentException($"--head-only trains the head on a pretrained backbone: it needs --arch {Architectures.ResNet18} (got {request.Arch})");
        }

        if (request.HeadOnly && request.Training.AutoLearningRate)
        {
            throw new ArgumentException("--lr auto sweeps the training loop's steps; --head-only trains its head on cached features instead: give --lr a number");
        }

        if (request.HeadOnly && request.Training.AverageLast > 0)
        {
            throw new ArgumentException("--average-last averages the training loop's epochs; --head-only trains its head on cached features instead: leave it out");
        }

        request.Augment.Validate();
    }

    private ClassificationDataset LoadDataset(ClassifyRequest request)
    {
        var dataset = ClassificationDataset.Load(request.Data, request.DataOptions);
        if (request.Training.SoftLabels && dataset.Images.All(i => i.Probability is null))
        {
            throw new ArgumentException($"--soft-labels trains on a labels file's probabilities; {dataset.Source} is folder-per-class data and has none");
        }

        progress.Message($"data: {dataset.Source} ({dataset.Images.Count} images, defect = {(File.Exists(dataset.Source) ? $"probability >= {request.DataOptions.DefectCutoff.ToString(CultureInfo.InvariantCulture)}" : $"folder {request.DataOptions.DefectClass}/")}), split seed {request.DataOptions.Seed}");
        var reviewed = dataset.Reviewed();
        progress.Message($"reviewed: {reviewed.Values.Sum()} images labelled in the daemon's review queue" +
            (reviewed.Count > 0 ? $" ({string.Join(", ", reviewed.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))})" : ""));
        foreach (var line in dataset.BalanceLines())
        {
            progress.Message("  " + line);
        }

        return dataset;
    }

    // The input spec, tensor sets, network (with the init package's or the pretrained weights) and loss weight of a run.
    // A resumed run initialises as the original did, so it gets the same parameter groups (the optimizer state it loads
    // has one per group) and records the same init; the checkpoint's weights then replace these.
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    private (InputSpec Spec, TensorSet Train, TensorSet Validation, TensorSet Test, nn.Module<Tensor, Tensor> Model, string? InitFrom, double PosWeight, Device Device) Prepare(
        ClassifyRequest request, ClassificationDataset dataset)
    {
        var pretrained = Pretraining.Resolve(request.Arch, request.Pretrained);
        var device = cuda.is_available() ? CUDA : CPU;
        progress.Message($"device: {(device.type == DeviceType.CUDA ? "cuda" : "cpu")}, {get_num_threads()} CPU threads");

        var channels = request.Channels ?? dataset.DetectChannels();
        var initPackage = InitPackage(request, channels);
        var (width, height, resize) = SizeFor(request, dataset);
        var spec = initPackage is null && pretrained
            ? ImageNetResNet18.InputSpecFor(channels, width, height, resize)
            : InputSpecFor(dataset, channels, width, height, resize, initPackage);
        progress.Message($"input: {spec.Width}x{spec.Height} {spec.Colour}, {spec.Resize}{(request.ImageSize == 0 ? " (from the training images' median size)" : "")}");
        var train = TensorSet.Build(dataset.In(Splits.Train), spec);
        var validation = TensorSet.Build(dataset.In(Splits.Validation), spec);
        var test = TensorSet.Build(dataset.In(Splits.Test), spec);
        manual_seed(request.Training.Seed);
        nn.Module<Tensor, Tensor> model;
        using (NoCollection.Enter())
        {
            model = Architectures.CreateClassifier(request.Arch, channels, request.WidthMultiplier); // weight init runs TorchSharp calls with temporary Scalars
        }

        string? initFrom = null;
        if (initPackage is not null)
        {
            try
            {
                ModelPackageWriter.LoadWeights(model, initPackage);
                initFrom = initPackage.Manifest.Version;
                progress.Message($"init: weights of package {initPackage.Manifest.Version} ({initPackage.Directory})");
            }
            catch (ModelPackageException ex) when (request.Init == "auto")
            {
                progress.Message($"init: from scratch; the current package's weights do not fit ({ex.Message})");
            }
        }
        if (initFrom is null && pretrained)
        {
            ImageNetResNet18.Load(((ResNet18Classifier)model).Backbone, spec);
            initFrom = Pretraining.ImageNet;
            progress.Message($"init: ImageNet ResNet-18 ({PretrainedFiles.ResNet18.Name} of {Pretraining.Source}; preprocessing folded into the stem)");
        }
        else if (initFrom is null)
        {
            progress.Message("init: from scratch");
        }

        var posWeight = request.Training.PosWeight ?? ClassifierTask.DerivePosWeight(train.Defects, train.Count - train.Defects, request.RecallTarget);
        progress.Message(string.Create(CultureInfo.InvariantCulture, $"loss: BCE with pos_weight {posWeight:F2}{(request.Training.PosWeight is null ? $" = (good/defect {train.Count - train.Defects}/{train.Defects}) x sqrt(r/(1-r)) at r = {request.RecallTarget}" : " (given)")}"));

        if (request.Training.SoftLabels)
        {
            var soft = train.Images.Count(i => i.Probability is > 0 and < 1);
            progress.Message($"loss targets: the labels file's probabilities ({soft} of {train.Count} training images between 0 and 1); metrics and thresholds use defect = probability >= {request.DataOptions.DefectCutoff.ToString(CultureInfo.InvariantCulture)}");
        }

        return (spec, train, validation, test, model, initFrom, posWeight, device);
    }

    private ModelPackage? InitPackage(ClassifyRequest request, int channels)
    {
        if (request.Init == "scratch")
        {
            return null;
        }

        if (request.Init != "auto")
        {
            var explicitPackage = PackageScorer.Open(request.Init);
            if (explicitPackage.Manifest.Arch != request.Arch || explicitPackage.Manifest.Input.Channels != channels)
            {
                throw new ModelPackageException($"{explicitPackage.Directory}: is a {explicitPackage.Manifest.Arch} with {explicitPackage.Manifest.Input.Channels} channel(s) ({explicitPackage.Manifest.Input.Colour}); this run trains a {request.Arch} with {channels} ({(channels == 1 ? "grey" : "rgb")}): pass --arch {explicitPackage.Manifest.Arch} --channels {explicitPackage.Manifest.Input.Channels}, or --init scratch");
            }

            return explicitPackage;
        }

        if (ModelPackage.ResolveCurrent(request.ModelsDirectory, ModelTasks.Classifier) is null)
        {
            return null;
        }

        var current = ModelPackage.OpenCurrent(request.ModelsDirectory, ModelTasks.Classifier);
        if (current.Manifest.Arch != request.Arch || current.Manifest.Input.Channels != channels)
        {
            progress.Message($"init: from scratch; the current package {current.Manifest.Version} is a {current.Manifest.Arch} with {current.Manifest.Input.Channels} channel(s)");
            return null;
        }

        return current;
    }

    // An explicit --image-size is a square, stretched as before; 0 keeps the data's aspect ratio (letterboxed).
    private (int Width, int Height, string Resize) SizeFor(ClassifyRequest request, ClassificationDataset dataset)
    {
        if (request.ImageSize != 0)
        {
            return (request.ImageSize, request.ImageSize, "stretch");
        }

        var (medianWidth, medianHeight) = InputSize.Median(dataset.In(Splits.Train));
        var (width, height) = InputSize.For(medianWidth, medianHeight, request.Arch == Architectures.ResNet18 ? ResNet18Encoder.SizeMultiple : 16);
        progress.Message($"input size from the data: median training image {medianWidth}x{medianHeight} -> {width}x{height}");
        return (width, height, "letterbox");
    }

    // Retraining from a package keeps its normalisation (the weights expect it); otherwise it is measured on the
    // training split, through the same preprocessor with identity normalisation.
    private static InputSpec InputSpecFor(ClassificationDataset dataset, int channels, int width, int height, string resize, ModelPackage? init)
    {
        var colour = channels == 1 ? "grey" : "rgb";
        if (init is not null)
        {
            return init.Manifest.Input with { Width = width, Height = height, Resize = resize };
        }

        var identity = new InputSpec { Width = width, Height = height, Channels = channels, Colour = colour, Mean = new float[channels], Std = Enumerable.Repeat(1f, channels).ToArray(), Resize = resize };
        var trainImages = dataset.In(Splits.Train);
        var sample = Enumerable.Range(0, Math.Min(256, trainImages.Count)).Select(i => trainImages[i * trainImages.Count / Math.Min(256, trainImages.Count)]).ToList();
        var set = TensorSet.Build(sample, identity);
        var mean = new float[channels];
        var std = new float[channels];
        var plane = width * height;
        for (var c = 0; c < channels; c++)
        {
            double sum = 0, sumSq = 0;
            foreach (var t in set.Tensors)
            {
                for (var k = c * plane; k < (c + 1) * plane; k++)
                {
                    sum += t[k];
                    sumSq += t[k] * t[k];
                }
            }

            var n = (double)plane * set.Count;
            mean[c] = (float)(sum / n);
            std[c] = (float)Math.Max(1e-3, Math.Sqrt(Math.Max(0, (sumSq / n) - (mean[c] * (double)mean[c]))));
        }

        return identity with { Mean = mean, Std = std };
    }
}
