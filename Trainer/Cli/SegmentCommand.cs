using System.CommandLine;
using Inspection.Trainer.Quantization;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Trainer.Losses;
using Inspection.Trainer.Models;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer segment</c>: train the segmentation model and write its package.</summary>
internal static class SegmentCommand
{
    // Defaults shared with the config (Trainer:Segmenter:*), so `trainer segment` and retraining from the config agree.
    private static readonly TrainerOptions Defaults = new();
    private static readonly Option<string> Data = new("--data") { Description = "Dataset folder: images/ + masks/ (or annotations/, labels/), X.bmp + X_label.bmp, or X.jpg + X.png", Required = true };
    private static readonly Option<string> Out = new("--out") { Description = "Models directory; the package is written to OUT/segmenter/<version>/", Required = true };
    private static readonly Option<double?> RecallTarget = new("--recall-target") { Description = "Use the highest pixel threshold reaching this pixel recall on validation (default: the threshold of best IoU; both are reported)" };
    private static readonly Option<string> Arch = new("--arch") { Description = $"U-Net encoder: {string.Join(", ", Architectures.SegmenterNames)}", DefaultValueFactory = _ => Defaults.Segmenter.Arch };
    private static readonly Option<string?> Pretrained = new("--pretrained") { Description = "imagenet (the ImageNet-trained ResNet-18 encoder; default for unet-resnet18) or none (random initialisation; default for unet-mobilenetv2)" };
    private static readonly Option<int> Epochs = new("--epochs") { Description = "Training epochs", DefaultValueFactory = _ => Defaults.Segmenter.Epochs };
    private static readonly Option<int> BatchSize = new("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => Defaults.Segmenter.BatchSize };
    private static readonly Option<int> ImageSize = new("--image-size") { Description = "Square input size, a multiple of 32", DefaultValueFactory = _ => Defaults.Segmenter.ImageSize };
    private static readonly Option<double> Width = new("--width-multiplier") { Description = "Width multiplier of the decoder (and of the MobileNetV2 encoder)", DefaultValueFactory = _ => Defaults.Segmenter.WidthMultiplier };
    private static readonly Option<string> LearningRate = new("--lr") { Description = "Peak learning rate (AdamW, cosine decay), or auto: the learning-rate range test (trainer lr-find) picks it", DefaultValueFactory = _ => "0.003" };
    private static readonly Option<double> MaskThreshold = new("--mask-threshold") { Description = "Mask values above this are foreground (class-coded masks: 0)", DefaultValueFactory = _ => 0 };
    private static readonly Option<double> BceWeight = new("--bce") { Description = "Weight of the BCE term", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> DiceWeight = new("--dice") { Description = "Weight of the soft Dice term", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> IouWeight = new("--iou") { Description = "Weight of the soft IoU term", DefaultValueFactory = _ => 0 };
    private static readonly Option<double?> PositiveWeight = new("--pos-weight") { Description = "BCE weight of foreground pixels (above 1 favours recall); default: sqrt(background/foreground) of the training masks, printed" };
    private static readonly Option<string> Init = new("--init") { Description = "'scratch', 'current' (continue from OUT/segmenter/current when there is one) or a package folder", DefaultValueFactory = _ => "current" };
    private static readonly Option<int> FreezeEpochs = new("--freeze-encoder-epochs") { Description = "Epochs with a frozen encoder when continuing from a package", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> Seed = new("--seed") { Description = "Seed of split, initialisation and augmentation", DefaultValueFactory = _ => Defaults.Seed };
    private static readonly Option<double> ValidationFraction = new("--validation-fraction") { Description = "Held out for validation (from the training part when the dataset has its own split)", DefaultValueFactory = _ => Defaults.ValidationFraction };
    private static readonly Option<double> TestFraction = new("--test-fraction") { Description = "Held out for test when the dataset has no split of its own", DefaultValueFactory = _ => Defaults.TestFraction };
    private static readonly Option<int> Limit = new("--limit") { Description = "Use at most N pairs per dataset split, evenly spaced (quick runs)", DefaultValueFactory = _ => 0 };
    private static readonly Option<bool> Resume = new("--resume") { Description = "Continue the latest unfinished segmenter run in OUT/runs from its last checkpoint (give the same options)" };
    private static readonly Option<bool> NoCurrent = new("--no-current") { Description = "Write the package without making it current" };
    private static readonly Option<bool> Force = new("--force") { Description = "Make the new package current even if the quality gate rejects it (recorded in the manifest)" };
    private static readonly SegmenterGatePolicy GateDefaults = new();
    private static readonly Option<double> MinIou = new("--min-iou") { Description = "Gate: test IoU floor", DefaultValueFactory = _ => GateDefaults.MinIou };
    private static readonly Option<double> MinDice = new("--min-dice") { Description = "Gate: test Dice floor", DefaultValueFactory = _ => GateDefaults.MinDice };
    private static readonly Option<double> MinPixelRecall = new("--min-pixel-recall") { Description = "Gate: test pixel recall floor", DefaultValueFactory = _ => GateDefaults.MinPixelRecall };
    private static readonly Option<double> MaxIouDrop = new("--max-iou-drop") { Description = "Gate: how much lower than the deployed segmenter's IoU (same test images) the new one's may be", DefaultValueFactory = _ => GateDefaults.MaxIouDrop };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("segment", "Train the U-Net segmentation model (ResNet-18 encoder, ImageNet-pretrained, by default) on image/mask pairs, choose the pixel threshold on validation, write the ONNX package and report");
        Option[] options =
        [
            Data, Out, RecallTarget, Arch, Pretrained, Epochs, BatchSize, ImageSize, Width, LearningRate, MaskThreshold, BceWeight, DiceWeight, IouWeight, PositiveWeight,
            Init, FreezeEpochs, Seed, ValidationFraction, TestFraction, Limit, NoCurrent, Resume, CommonOptions.AverageLast, Force, MinIou, MinDice, MinPixelRecall, MaxIouDrop, QuantizeCommand.Quantize, CommonOptions.Threads, CommonOptions.Json,
            .. ClassifyCommand.AugmentOptionsList,
        ];
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
        {
            var request = new SegmentRequest
            {
                Data = parse.GetValue(Data)!,
                ModelsDirectory = parse.GetValue(Out)!,
                RecallTarget = parse.GetValue(RecallTarget),
                MaskThreshold = parse.GetValue(MaskThreshold),
                ValidationFraction = parse.GetValue(ValidationFraction),
                TestFraction = parse.GetValue(TestFraction),
                Limit = parse.GetValue(Limit),
                MakeCurrent = !parse.GetValue(NoCurrent),
                Resume = parse.GetValue(Resume),
                Force = parse.GetValue(Force),
                Gate = new SegmenterGatePolicy
                {
                    MinIou = parse.GetValue(MinIou),
                    MinDice = parse.GetValue(MinDice),
                    MinPixelRecall = parse.GetValue(MinPixelRecall),
                    MaxIouDrop = parse.GetValue(MaxIouDrop),
                },
                InitFrom = ResolveInit(parse.GetValue(Init)!, parse.GetValue(Out)!),
                Options = new SegmenterOptions
                {
                    Arch = parse.GetValue(Arch)!,
                    Pretrained = parse.GetValue(Pretrained),
                    ImageSize = parse.GetValue(ImageSize),
                    WidthMultiplier = parse.GetValue(Width),
                    Training = SegmenterOptions.DefaultTraining with
                    {
                        Epochs = parse.GetValue(Epochs),
                        BatchSize = parse.GetValue(BatchSize),
                        LearningRate = CommonOptions.LearningRate(parse.GetValue(LearningRate)!) ?? SegmenterOptions.DefaultTraining.LearningRate,
                        AutoLearningRate = CommonOptions.LearningRate(parse.GetValue(LearningRate)!) is null,
                        Seed = parse.GetValue(Seed),
                        AverageLast = parse.GetValue(CommonOptions.AverageLast),
                    },
                    Loss = new SegmentationLossWeights(parse.GetValue(BceWeight), parse.GetValue(DiceWeight), parse.GetValue(IouWeight), parse.GetValue(PositiveWeight) ?? 1),
                    PositiveWeightFromMasks = parse.GetValue(PositiveWeight) is null,
                    FreezeEncoderEpochs = parse.GetValue(FreezeEpochs),
                    Augmentation = ClassifyCommand.AugmentFrom(parse),
                },
            };
            Check(request);
            var outcome = SegmenterRun.Run(request, progress);
            if (progress is JsonProgress json)
            {
                json.Write(new { @event = "result", package = outcome.Package.Package.Directory, current = outcome.Package.IsCurrent, gate_pass = outcome.Gate.Pass, gate_reason = outcome.Gate.Reason, threshold = outcome.Threshold.Value, validation = outcome.Validation.ToDictionary(), test = outcome.Test?.ToDictionary(), run = outcome.ReportDirectory });
            }

            var code = ExitCode(outcome, request);
            return !QuantizeCommand.WantsInt8(parse) ? code : Math.Max(code, QuantizeCommand.Execute(new QuantizeRequest
            {
                Package = outcome.Package.Package.Directory,
                Data = request.Data,
                SegmenterGate = request.Gate,
                Force = request.Force,
                MakeCurrent = request.MakeCurrent,
            }, progress));
        }));
        return command;
    }

    /// <summary>
    /// The segmenter's part of <c>trainer --recall-target R</c>: retrains from <c>Trainer:Segmenter:Data</c>, continuing
    /// from the current package when there is one, with R as the pixel recall target.
    /// </summary>
    public static int Retrain(InspectionOptions options, RetrainSettings settings, ITrainingProgress progress)
    {
        var t = options.Trainer;
        var s = t.Segmenter;
        var models = settings.ModelsDirectory ?? options.Models.Directory;
        var current = ResolveInit("current", models);
        if (current is not null && current.Manifest.Arch != s.Arch)
        {
            progress.Message($"init: from scratch; the current segmenter {current.Manifest.Version} is a {current.Manifest.Arch}, the config asks for {s.Arch}");
            current = null;
        }

        if (current is not null && PreviousWidth(current) is { } width && width != s.WidthMultiplier)
        {
            progress.Message(FormattableString.Invariant($"init: from scratch; the current segmenter {current.Manifest.Version} has width multiplier {width}, the config asks for {s.WidthMultiplier}"));
            current = null;
        }

        var request = new SegmentRequest
        {
            Data = s.Data,
            ModelsDirectory = models,
            RecallTarget = settings.RecallTarget,
            ValidationFraction = t.ValidationFraction,
            TestFraction = t.TestFraction,
            InitFrom = current,
            Force = settings.Force,
            Options = new SegmenterOptions
            {
                Arch = s.Arch,
                ImageSize = s.ImageSize,
                WidthMultiplier = s.WidthMultiplier,
                Training = SegmenterOptions.DefaultTraining with { Epochs = s.Epochs, BatchSize = s.BatchSize, Seed = t.Seed },
            },
        };
        Check(request);
        return ExitCode(SegmenterRun.Run(request, progress), request);
    }

    // As for the classifier: a package the gate kept out of current exits 2.
    private static int ExitCode(SegmentOutcome outcome, SegmentRequest request) =>
        request.MakeCurrent && !outcome.Package.IsCurrent ? ClassifyCommand.GateRejected : 0;

    private static ModelPackage? ResolveInit(string init, string modelsDirectory) => init switch
    {
        "scratch" => null,
        "current" => ModelPackage.ResolveCurrent(modelsDirectory, ModelTasks.Segmenter) is null ? null : ModelPackage.OpenCurrent(modelsDirectory, ModelTasks.Segmenter),
        _ => ModelPackage.Open(init),
    };

    private static double? PreviousWidth(ModelPackage package) =>
        package.Manifest.Metrics.GetValueOrDefault("training")?.TryGetValue("width_multiplier", out var w) == true ? w : null;

    private static void Check(SegmentRequest request)
    {
        var o = request.Options;
        o.Validate();

        var g = request.Gate;
        if (new[] { g.MinIou, g.MinDice, g.MinPixelRecall, g.MaxIouDrop }.Any(v => v is < 0 or > 1 || double.IsNaN(v)))
        {
            throw new ArgumentException(FormattableString.Invariant($"--min-iou, --min-dice, --min-pixel-recall and --max-iou-drop must be in [0, 1] (got {g.MinIou}, {g.MinDice}, {g.MinPixelRecall}, {g.MaxIouDrop})"));
        }

        if (request.RecallTarget is { } r && r is <= 0 or > 1)
        {
            throw new ArgumentException($"--recall-target must be in (0, 1] (got {r})");
        }

        if (request.InitFrom is { } init && init.Manifest.Task != ModelTasks.Segmenter)
        {
            throw new ArgumentException($"--init {init.Directory}: a {init.Manifest.Task} package, not a segmenter");
        }

        if (request.InitFrom is { } previous && PreviousWidth(previous) is { } width && width != o.WidthMultiplier)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"--init {previous.Directory}: that package has width multiplier {width}, this run {o.WidthMultiplier}; pass --width-multiplier {width}, or --init scratch"));
        }
    }
}
