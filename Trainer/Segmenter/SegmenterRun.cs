using System.Text.Json.Serialization;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Reports;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Segmenter;

/// <summary>Everything <c>trainer segment</c> needs.</summary>
internal sealed record SegmentRequest
{
    /// <summary>Dataset folder.</summary>
    public required string Data { get; init; }

    /// <summary>Models directory; the package goes to <c>segmenter/&lt;version&gt;/</c> under it.</summary>
    public required string ModelsDirectory { get; init; }

    /// <summary>Training settings.</summary>
    public SegmenterOptions Options { get; init; } = new();

    /// <summary>Pick the highest threshold reaching this pixel recall on validation; null: the best-IoU threshold.</summary>
    public double? RecallTarget { get; init; }

    /// <summary>Mask values above this are foreground.</summary>
    public double MaskThreshold { get; init; }

    /// <summary>Validation fraction (of the training part when the dataset has its own split).</summary>
    public double ValidationFraction { get; init; } = 0.15;

    /// <summary>Test fraction when the dataset has no split of its own.</summary>
    public double TestFraction { get; init; } = 0.15;

    /// <summary>At most this many pairs per dataset split (0 = all).</summary>
    public int Limit { get; init; }

    /// <summary>Package to continue from, or null for a fresh network.</summary>
    [JsonIgnore]
    public ModelPackage? InitFrom { get; init; }

    /// <summary>The folder of <see cref="InitFrom"/> (as recorded in the run's <c>request.json</c>).</summary>
    public string? InitFromDirectory => InitFrom?.Directory;

    /// <summary>Continue the latest unfinished segmenter run from its checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Point <c>segmenter/current</c> at the new package when the gate passes (false: never).</summary>
    public bool MakeCurrent { get; init; } = true;

    /// <summary>Make it current even if the gate refuses it (recorded in the manifest).</summary>
    public bool Force { get; init; }

    /// <summary>What the gate requires.</summary>
    public SegmenterGatePolicy Gate { get; init; } = new();

    /// <summary>Version folder name; null: the UTC time.</summary>
    public string? Version { get; init; }
}

/// <summary>What a run produced.</summary>
/// <param name="Package">The written package.</param>
/// <param name="Threshold">The threshold written into the package.</param>
/// <param name="BestIou">The best-IoU threshold on validation.</param>
/// <param name="ForRecall">The recall-target threshold on validation (null when not asked or unreachable).</param>
/// <param name="Validation">Validation metrics at the chosen threshold.</param>
/// <param name="Test">Test metrics at the chosen threshold (null without a test split).</param>
/// <param name="Training">The training history.</param>
/// <param name="ReportDirectory">Where curves, example grid and metrics.json are.</param>
/// <param name="Gate">The quality gate's verdict.</param>
internal sealed record SegmentOutcome(
    WrittenPackage Package,
    ThresholdSpec Threshold,
    PixelThresholdPoint BestIou,
    PixelThresholdPoint? ForRecall,
    SegmentationMetrics Validation,
    SegmentationMetrics? Test,
    SegmenterTraining Training,
    string ReportDirectory,
    GateDecision Gate);

/// <summary>
/// <c>trainer segment</c> end to end: load and split the pairs, train, choose the pixel threshold on validation,
/// measure the test split, export and verify the ONNX graph, write the package (task <c>segmenter</c>) and its report.
/// </summary>
internal static class SegmenterRun
{
    /// <summary>Loads the dataset named in the request and runs.</summary>
    public static SegmentOutcome Run(SegmentRequest request, ITrainingProgress progress)
    {
        request.Options.Validate();
        using var data = Load(request, progress);
        return Run(data, request, progress);
    }

    /// <summary>
    /// The learning-rate range test (<c>trainer lr-find</c>) on the network and data a run with <paramref name="request"/>
    /// would train; nothing is written.
    /// </summary>
    public static LrFindResult FindLearningRate(SegmentRequest request, LrFindOptions sweep, ITrainingProgress progress)
    {
        request.Options.Validate();
        using var data = Load(request, progress);
        using var task = SegmenterTask.Create(data, SegmenterTask.WithLossFromMasks(data, request.Options, progress), request.InitFrom);
        using var model = task.Model;
        return new TrainingLoop(request.Options.Training, progress).FindLearningRate(task, sweep);
    }

    private static SegmentationDataset Load(SegmentRequest request, ITrainingProgress progress)
    {
        var options = request.Options;
        var load = new SegmentationLoadOptions
        {
            Width = options.ImageSize,
            Height = options.ImageSize,
            Channels = request.InitFrom?.Manifest.Input.Channels,
            MaskThreshold = request.MaskThreshold,
            Seed = options.Training.Seed,
            ValidationFraction = request.ValidationFraction,
            TestFraction = request.TestFraction,
            Limit = request.Limit,
        };
        var data = SegmentationDataset.Load(request.Data, load, w => progress.Message($"warning: {w}"));
        progress.Message($"data: {data.Scan.Root} ({data.Scan.Layout} layout, {data.Samples.Count} pairs, split {data.SplitSource}: " +
            $"{data.In(Splits.Train).Count} train / {data.In(Splits.Validation).Count} validation / {data.In(Splits.Test).Count} test)");
        return data;
    }

    /// <summary>Runs on an already loaded dataset.</summary>
    public static SegmentOutcome Run(SegmentationDataset data, SegmentRequest request, ITrainingProgress progress)
    {
        var options = request.Options;
        var (runDirectory, version) = RunFolder.Open(request.ModelsDirectory, ModelTasks.Segmenter, request.Version, request.Resume, request, progress);
        var training = SegmenterTask.Train(data, options, request.InitFrom, progress, RunFolder.Checkpoint(runDirectory), request.Resume);
        if (training.Search is not null)
        {
            LrFindPlot.Write(Path.Combine(runDirectory, "lr-find.png"), training.Search);
        }

        var content = Contents(data, request, training, version);

        // Threshold and gate figures come from the exported model through Inspection.Inference, as the daemon runs it.
        using var staged = ModelPackageWriter.Stage(request.ModelsDirectory, training.Model, content, new ProgressWriter(progress));
        var judged = SegmenterJudgement.Judge(staged.Package, data.In(Splits.Validation), data.In(Splits.Test), request.RecallTarget, request.Gate, request.ModelsDirectory, request.Force, progress);
        var (validation, threshold, bestIou, forRecall, validationMetrics, test, gate) =
            (judged.ValidationPredictions, judged.Threshold, judged.BestIou, judged.ForRecall, judged.Validation, judged.Test, judged.Gate);
        var thresholds = validation.Thresholds();
        var makeCurrent = request.MakeCurrent && (gate.Pass || request.Force);

        var metrics = judged.Metrics();
        metrics["training"] = new()
        {
            ["images_per_second"] = training.ImagesPerSecond,
            ["epochs"] = training.History.Count,
            ["best_epoch"] = training.BestEpoch,
            ["learning_rate"] = training.LearningRate,
            ["learning_rate_found"] = options.Training.AutoLearningRate ? 1 : 0,
            ["width_multiplier"] = options.WidthMultiplier,
        };
        EpochAverage.Record(metrics["training"], options.Training.AverageLast, training.Averaged);

        content = content with
        {
            Threshold = threshold,
            Metrics = metrics,
            Gate = gate.Record(request.Gate.ToString(), request.Force && request.MakeCurrent),
        };
        var package = staged.Commit(content, makeCurrent, new Dictionary<string, string> { ["GATE.txt"] = gate.Note(request.Gate.ToString(), request.Force), [DeployedComparison.SplitFile] = data.SplitCsv() });

        var report = new
        {
            Task = ModelTasks.Segmenter,
            package.Package.Manifest.Version,
            Threshold = threshold,
            Validation = validationMetrics.ToDictionary(),
            Test = test?.ToDictionary(),
            Thresholds = metrics["thresholds"],
            Training = metrics["training"],
            History = training.History,
            OnnxMaxAbsDifference = package.Export.MaxAbsDifference,
        };
        SegmenterReport.Write(runDirectory, training, thresholds.Curve(), validation, threshold.Value, report);
        progress.Message(FormattableString.Invariant(
            $"threshold {threshold.Value:F3} ({threshold.Method}); validation IoU {validationMetrics.Iou:F4} Dice {validationMetrics.Dice:F4} precision {validationMetrics.PixelPrecision:F4} recall {validationMetrics.PixelRecall:F4}"));
        if (test is not null)
        {
            progress.Message(FormattableString.Invariant(
                $"test ({test.Images} images): IoU {test.Iou:F4} Dice {test.Dice:F4} precision {test.PixelPrecision:F4} recall {test.PixelRecall:F4}"));
        }

        RunFolder.MarkDone(runDirectory, package.Package.Directory);
        progress.Message($"package: {package.Package.Directory}{(package.IsCurrent ? " (now current)" : gate.Pass ? " (not made current: --no-current)" : $" kept beside the current one (not made current): {gate.Reason}")}; report: {runDirectory}");
        return new SegmentOutcome(package, threshold, bestIou, forRecall, validationMetrics, test, training, runDirectory, gate);
    }

    /// <summary>What the package records about this run, before the threshold, metrics and gate are known.</summary>
    private static PackageContent Contents(SegmentationDataset data, SegmentRequest request, SegmenterTraining training, string version)
    {
        var options = request.Options;
        return new PackageContent
        {
            Task = ModelTasks.Segmenter,
            Arch = options.Arch,
            Input = training.Input,
            Output = new OutputSpec { Name = "logit", Kind = OutputKind.Logit },
            Threshold = new ThresholdSpec { Value = 0.5 },
            Training = new TrainingSpec
            {
                Dataset = data.Scan.Root,
                DatasetFingerprint = data.Fingerprint,
                Split = data.SplitSummary(),
                Epochs = training.History.Count,
                Augmentation = new Dictionary<string, string>(options.Augmentation.Describe())
                {
                    ["joint_mask"] = "geometric transforms applied to image and mask alike",
                    ["loss"] = training.Loss.ToString(),
                    ["mask_threshold"] = request.MaskThreshold.ToString(System.Globalization.CultureInfo.InvariantCulture),
                },
                InitFrom = request.InitFrom?.Manifest.Version ?? (Pretraining.Resolve(options.Arch, options.Pretrained, Architectures.UNetResNet18) ? Pretraining.ImageNet : null),
            },
            Version = version,
        };
    }
}
