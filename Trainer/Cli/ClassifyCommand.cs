using System.CommandLine;
using Inspection.Trainer.Quantization;
using System.Globalization;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer classify</c>: train the defect classifier for a recall target and write its package.</summary>
internal static class ClassifyCommand
{
    /// <summary>Exit code when the model was trained and written but the gate kept the current one.</summary>
    public const int GateRejected = 2;

    // Defaults shared with the config (Trainer:Classifier:*), so `trainer classify` and retraining from the config agree.
    private static readonly TrainerOptions Defaults = new();
    private static readonly Option<string> Data = new("--data") { Description = "Dataset: a folder with good/ and defect/ subfolders, or a labels file (path probability [type] per line, like ELPV's labels.csv)", Required = true };
    private static readonly Option<string> Out = new("--out") { Description = "Models folder: the package goes to OUT/classifier/<version>, the run's report and checkpoints to OUT/runs/", Required = true };
    private static readonly Option<string> Arch = new("--arch") { Description = $"Architecture: {string.Join(", ", Architectures.ClassifierNames)}", DefaultValueFactory = _ => Defaults.Classifier.Arch };
    private static readonly Option<string?> Pretrained = new("--pretrained") { Description = "imagenet (the ImageNet-trained ResNet-18 shipped with the trainer; default for resnet18) or none (random initialisation; default for the others)" };
    private static readonly Option<bool> HeadOnly = new("--head-only") { Description = "Freeze the pretrained backbone, compute its features once per image and augmentation pass, train only the head (seconds to minutes on a CPU)" };
    private static readonly Option<int> FeaturePasses = new("--feature-passes") { Description = "--head-only: passes over the training images (the first unaugmented, the others augmented)", DefaultValueFactory = _ => new TrainingOptions().FeaturePasses };
    private static readonly Option<int> ImageSize = new("--image-size") { Description = "Square input size in pixels (stretched); 0 = from the data: the median image size, longer side at most 320, aspect kept (letterboxed)", DefaultValueFactory = _ => Defaults.Classifier.ImageSize };
    private static readonly Option<double> Width = new("--width") { Description = "Width multiplier of mobilenetv2/resnet (resnet18 has the pretrained network's fixed widths)", DefaultValueFactory = _ => Defaults.Classifier.WidthMultiplier };
    private static readonly Option<int> Epochs = new("--epochs") { Description = "Epochs at most (early stopping may end sooner)", DefaultValueFactory = _ => Defaults.Classifier.Epochs };
    private static readonly Option<int> BatchSize = new("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => Defaults.Classifier.BatchSize };
    private static readonly Option<string> Optimizer = new("--optimizer") { Description = "adam or sgd (momentum 0.9, Nesterov)", DefaultValueFactory = _ => "adam" };
    private static readonly Option<string> Lr = new("--lr") { Description = "Peak learning rate, or auto: the learning-rate range test (trainer lr-find) picks it", DefaultValueFactory = _ => "0.001" };
    private static readonly Option<string> Schedule = new("--schedule") { Description = "Learning-rate schedule: cosine (one-epoch warm-up), step or constant", DefaultValueFactory = _ => "cosine" };
    private static readonly Option<double> ClipNorm = new("--clip-norm") { Description = "Clip gradients to this L2 norm", DefaultValueFactory = _ => 5.0 };
    private static readonly Option<int> Patience = new("--patience") { Description = "Stop after this many epochs without better validation AP (0 = never)", DefaultValueFactory = _ => 6 };
    private static readonly Option<double?> PosWeight = new("--pos-weight") { Description = "Loss weight of defective samples (default: good/defect ratio x sqrt(r/(1-r)))" };
    private static readonly Option<bool> SoftLabels = new("--soft-labels") { Description = "Labels file: train on its probabilities as targets (ELPV: 0, 1/3, 2/3, 1) instead of 0/1 at --defect-cutoff; metrics and thresholds still use the cutoff" };
    private static readonly Option<int> Seed = new("--seed") { Description = "Seed of split, shuffling, augmentation and initialisation", DefaultValueFactory = _ => Defaults.Seed };
    private static readonly Option<double> ValFraction = new("--val-fraction") { Description = "Fraction of each class held out for validation", DefaultValueFactory = _ => Defaults.ValidationFraction };
    private static readonly Option<double> TestFraction = new("--test-fraction") { Description = "Fraction of each class held out for the test", DefaultValueFactory = _ => Defaults.TestFraction };
    private static readonly Option<double> DefectCutoff = new("--defect-cutoff") { Description = "Labels file: probability at or above which an image is defective", DefaultValueFactory = _ => 0.5 };
    private static readonly Option<string> DefectClass = new("--defect-class") { Description = "Folder name of the defective class", DefaultValueFactory = _ => "defect" };
    private static readonly Option<string> GoodClass = new("--good-class") { Description = "Folder name of the good class", DefaultValueFactory = _ => "good" };
    private static readonly Option<int?> Channels = new("--channels") { Description = "1 (grey) or 3 (colour); default: grey when every image is grey" };
    private static readonly Option<int> Limit = new("--limit-per-class") { Description = "Use at most N images per class (evenly picked; 0 = all)", DefaultValueFactory = _ => 0 };
    private static readonly Option<string> Init = new("--init") { Description = "auto (continue from OUT's current package when it fits), scratch, or a package folder", DefaultValueFactory = _ => "auto" };
    private static readonly Option<bool> Resume = new("--resume") { Description = "Continue the latest unfinished run in OUT/runs from its last checkpoint" };
    private static readonly Option<bool> Force = new("--force") { Description = "Make the new package current even if the quality gate rejects it" };
    private static readonly Option<double> MinAuroc = new("--min-auroc") { Description = "Gate: test AUROC floor (chance is 0.5)", DefaultValueFactory = _ => new ClassifyRequest { Data = "", ModelsDirectory = "" }.MinAuroc };
    private static readonly Option<double> MinSpecificity = new("--min-specificity") { Description = "Gate: test specificity floor at the chosen threshold", DefaultValueFactory = _ => new ClassifyRequest { Data = "", ModelsDirectory = "" }.MinSpecificity };
    private static readonly Option<double> MaxSpecificityDrop = new("--max-specificity-drop") { Description = "Gate: how much lower than the deployed model's specificity (same test images) the new one's may be", DefaultValueFactory = _ => new ClassifyRequest { Data = "", ModelsDirectory = "" }.MaxSpecificityDrop };
    private static readonly Option<bool> RequireBound = new("--require-bound") { Description = "Gate: also require the test recall's 95% Clopper-Pearson lower bound to reach the target (says how many more defective samples that needs)" };
    private static readonly Option<string?> VersionName = new("--version-name") { Description = "Package version (default: UTC time yyyyMMdd-HHmmss)" };
    private static readonly Option<string[]> AugmentOff = new("--augment-off") { Description = "Switch transforms off: hflip, vflip, rot90, rotate, shift, zoom, brightness, contrast, noise, blur, all", AllowMultipleArgumentsPerToken = true };
    private static readonly Option<double> Rotation = new("--rotation") { Description = "Small rotation range, degrees (±)", DefaultValueFactory = _ => 10 };
    private static readonly Option<double> Shift = new("--shift") { Description = "Shift range, fraction of the size (±)", DefaultValueFactory = _ => 0.05 };
    private static readonly Option<double> ZoomMin = new("--zoom-min") { Description = "Zoom range low end", DefaultValueFactory = _ => 0.9 };
    private static readonly Option<double> ZoomMax = new("--zoom-max") { Description = "Zoom range high end", DefaultValueFactory = _ => 1.1 };
    private static readonly Option<double> Brightness = new("--brightness") { Description = "Brightness offset range (±, pixel units of [0,1])", DefaultValueFactory = _ => 0.1 };
    private static readonly Option<double> Contrast = new("--contrast") { Description = "Contrast factor range (1 ±)", DefaultValueFactory = _ => 0.15 };
    private static readonly Option<double> Noise = new("--noise") { Description = "Largest gaussian noise sigma (pixel units)", DefaultValueFactory = _ => 0.02 };
    private static readonly Option<double> BlurProbability = new("--blur-prob") { Description = "Probability of a gaussian blur", DefaultValueFactory = _ => 0.2 };
    private static readonly Option<double> BlurSigma = new("--blur-sigma") { Description = "Largest blur sigma in pixels", DefaultValueFactory = _ => 1.0 };

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var command = new Command("classify", "Train the defect classifier for a recall target, choose its threshold on validation, test it, gate it and write its model package");
        Option[] options =
        [
            Data, Out, CommonOptions.RecallTarget, Arch, Pretrained, HeadOnly, FeaturePasses, ImageSize, Width, Epochs, BatchSize, Optimizer, Lr, Schedule, ClipNorm, Patience, CommonOptions.AverageLast, PosWeight, SoftLabels, Seed,
            ValFraction, TestFraction, DefectCutoff, DefectClass, GoodClass, Channels, Limit, Init, Resume, Force, MinAuroc, MinSpecificity, MaxSpecificityDrop, RequireBound, VersionName, QuantizeCommand.Quantize, CommonOptions.Threads, CommonOptions.Json,
            AugmentOff, Rotation, Shift, ZoomMin, ZoomMax, Brightness, Contrast, Noise, BlurProbability, BlurSigma,
        ];
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
        {
            var request = Request(parse);
            return Execute(request, progress, QuantizeCommand.WantsInt8(parse));
        }));
        return command;
    }

    /// <summary>Runs a request with progress, then (<paramref name="int8"/>) quantizes the new package; returns the exit code (0 current, 2 kept beside by the gate).</summary>
    public static int Execute(ClassifyRequest request, ITrainingProgress progress, bool int8 = false)
    {
        var result = new ClassifierRun(progress).Run(request);
        if (progress is JsonProgress json)
        {
            json.Write(new { @event = "result", package = result.PackageDirectory, current = result.IsCurrent, gate_pass = result.Gate.Pass, gate_reason = result.Gate.Reason, threshold = result.Choice.Threshold, test = result.Test.ToDictionary(), run = result.RunDirectory });
        }

        var code = result.IsCurrent ? 0 : GateRejected;
        return !int8 ? code : Math.Max(code, QuantizeCommand.Execute(new QuantizeRequest
        {
            Package = result.PackageDirectory,
            Data = request.Data,
            ClassificationOptions = request.DataOptions,
            ClassifierGate = ClassifierRun.GatePolicy(request),
            Force = request.Force,
        }, progress));
    }

    /// <summary>Reads the augmentation options (shared with <c>augment-preview</c>).</summary>
    public static AugmentOptions AugmentFrom(ParseResult parse)
    {
        var off = new HashSet<string>((parse.GetValue(AugmentOff) ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries)), StringComparer.OrdinalIgnoreCase);
        string[] known = ["hflip", "vflip", "rot90", "rotate", "shift", "zoom", "brightness", "contrast", "noise", "blur", "all"];
        var unknown = off.Where(o => !known.Contains(o, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"--augment-off: unknown transform(s) {string.Join(", ", unknown)} (known: {string.Join(", ", known)})");
        }

        bool On(string name) => !off.Contains(name) && !off.Contains("all");
        return new AugmentOptions
        {
            HorizontalFlip = On("hflip"),
            VerticalFlip = On("vflip"),
            Rotate90 = On("rot90"),
            RotationDegrees = On("rotate") ? parse.GetValue(Rotation) : 0,
            Shift = On("shift") ? parse.GetValue(Shift) : 0,
            ZoomMin = On("zoom") ? parse.GetValue(ZoomMin) : 1,
            ZoomMax = On("zoom") ? parse.GetValue(ZoomMax) : 1,
            Brightness = On("brightness") ? parse.GetValue(Brightness) : 0,
            Contrast = On("contrast") ? parse.GetValue(Contrast) : 0,
            Noise = On("noise") ? parse.GetValue(Noise) : 0,
            BlurProbability = On("blur") ? parse.GetValue(BlurProbability) : 0,
            BlurSigma = parse.GetValue(BlurSigma),
        };
    }

    /// <summary>The augmentation options, for commands that share them.</summary>
    public static IEnumerable<Option> AugmentOptionsList => [AugmentOff, Rotation, Shift, ZoomMin, ZoomMax, Brightness, Contrast, Noise, BlurProbability, BlurSigma];

    private static ClassifyRequest Request(ParseResult parse) => new()
    {
        Data = parse.GetValue(Data)!,
        ModelsDirectory = parse.GetValue(Out)!,
        RecallTarget = parse.GetValue(CommonOptions.RecallTarget),
        Arch = parse.GetValue(Arch)!,
        Pretrained = parse.GetValue(Pretrained),
        HeadOnly = parse.GetValue(HeadOnly),
        ImageSize = parse.GetValue(ImageSize),
        WidthMultiplier = parse.GetValue(Width),
        Channels = parse.GetValue(Channels),
        DataOptions = new ClassificationDataOptions
        {
            DefectCutoff = parse.GetValue(DefectCutoff),
            DefectClass = parse.GetValue(DefectClass)!,
            GoodClass = parse.GetValue(GoodClass)!,
            Seed = parse.GetValue(Seed),
            ValidationFraction = parse.GetValue(ValFraction),
            TestFraction = parse.GetValue(TestFraction),
            LimitPerClass = parse.GetValue(Limit),
        },
        Training = new TrainingOptions
        {
            Epochs = parse.GetValue(Epochs),
            BatchSize = parse.GetValue(BatchSize),
            Optimizer = parse.GetValue(Optimizer)!,
            LearningRate = CommonOptions.LearningRate(parse.GetValue(Lr)!) ?? new TrainingOptions().LearningRate,
            AutoLearningRate = CommonOptions.LearningRate(parse.GetValue(Lr)!) is null,
            Schedule = parse.GetValue(Schedule)!,
            ClipNorm = parse.GetValue(ClipNorm),
            Patience = parse.GetValue(Patience),
            AverageLast = parse.GetValue(CommonOptions.AverageLast),
            PosWeight = parse.GetValue(PosWeight),
            SoftLabels = parse.GetValue(SoftLabels),
            FeaturePasses = parse.GetValue(FeaturePasses),
            Seed = parse.GetValue(Seed),
        },
        Augment = AugmentFrom(parse),
        Init = parse.GetValue(Init)!,
        Resume = parse.GetValue(Resume),
        Force = parse.GetValue(Force),
        MinAuroc = parse.GetValue(MinAuroc),
        MinSpecificity = parse.GetValue(MinSpecificity),
        MaxSpecificityDrop = parse.GetValue(MaxSpecificityDrop),
        RequireBound = parse.GetValue(RequireBound),
        Version = parse.GetValue(VersionName),
    };
}

/// <summary>Options several commands share, and the error handling every command uses.</summary>
internal static class CommonOptions
{
    /// <summary><c>--recall-target</c>.</summary>
    public static readonly Option<double> RecallTarget = new("--recall-target") { Description = "Recall the decision threshold must reach on held-out data, in (0, 1)", DefaultValueFactory = _ => new TrainerOptions().RecallTarget };

    /// <summary><c>--average-last</c>.</summary>
    public static readonly Option<int> AverageLast = new("--average-last") { Description = "Average the weights of the last N epochs when training ends; keep the average if it validates better than the best epoch (0 = off)", DefaultValueFactory = _ => 0 };

    /// <summary><c>--threads</c>.</summary>
    public static readonly Option<int> Threads = new("--threads") { Description = "CPU threads for torch (0 = all cores)", DefaultValueFactory = _ => 0 };

    /// <summary><c>--json</c>.</summary>
    public static readonly Option<bool> Json = new("--json") { Description = "Machine-readable output: one JSON object per line" };

    /// <summary>Runs a command body with threads set and progress chosen; turns known failures into one clear line and exit 1.</summary>
    public static int Guarded(ParseResult parse, Func<ITrainingProgress, int> body)
    {
        var json = parse.GetValue(Json);
        try
        {
            var threads = parse.GetValue(Threads);
            if (threads < 0)
            {
                throw new ArgumentException($"--threads must be >= 0 (got {threads})");
            }

            if (threads > 0)
            {
                TorchSharp.torch.set_num_threads(threads);
            }

            if (json)
            {
                return body(new JsonProgress(Console.Out));
            }

            var console = new ConsoleProgress();
            return console.Run(body);
        }
        catch (Exception ex) when (ex is DatasetException or ModelPackageException or TrainingDivergedException or OnnxExportException or ArgumentException or IOException or UnauthorizedAccessException or Config.Loading.ConfigException)
        {
            if (json)
            {
                new JsonProgress(Console.Out).Write(new { @event = "error", error = ex.Message });
            }

            Console.Error.WriteLine($"trainer: error: {ex.Message}");
            return ex is Config.Loading.ConfigException ? Config.Loading.ConfigException.ExitCode : 1;
        }
    }

    /// <summary>Reads <c>--lr</c>: a positive number, or null for <c>auto</c>.</summary>
    public static double? LearningRate(string text) =>
        text == "auto" ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 && double.IsFinite(rate) ? rate
        : throw new ArgumentException($"--lr must be a positive number or auto (got '{text}')");

    /// <summary>Formats a number for messages.</summary>
    public static string F(double value) => value.ToString(CultureInfo.InvariantCulture);
}
