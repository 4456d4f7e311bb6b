using System.CommandLine;
using Inspection.Config.Options;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Models;
using Inspection.Trainer.Reports;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer lr-find</c>: the learning-rate range test on classifier or segmenter data; a plot and the suggested rate.</summary>
internal static class LrFindCommand
{
    private static readonly TrainerOptions Defaults = new();
    private static readonly Option<string> Data = new("--data") { Description = "Classifier data (folder with good/ and defect/, or a labels file) or segmenter data (image/mask pairs)", Required = true };
    private static readonly Option<string?> Arch = new("--arch") { Description = $"Classifier: {string.Join(", ", Architectures.ClassifierNames)}; segmenter: {string.Join(", ", Architectures.SegmenterNames)}. Default: classify's default for classifier data, else segment's" };
    private static readonly Option<int?> ImageSize = new("--image-size") { Description = "Square input size (default: as classify and segment)" };
    private static readonly Option<double?> Width = new("--width-multiplier") { Description = "Width multiplier (default: the classifier's or segmenter's)" };
    private static readonly Option<int?> BatchSize = new("--batch-size") { Description = "Mini-batch size (default: the classifier's or segmenter's)" };
    private static readonly Option<string?> Optimizer = new("--optimizer") { Description = "adam, adamw or sgd (default: adam for the classifier, adamw for the segmenter)" };
    private static readonly Option<double> Start = new("--start-lr") { Description = "First learning rate of the sweep", DefaultValueFactory = _ => new LrFindOptions().Start };
    private static readonly Option<double> End = new("--end-lr") { Description = "Last learning rate of the sweep", DefaultValueFactory = _ => new LrFindOptions().End };
    private static readonly Option<int> Steps = new("--steps") { Description = "Steps of the sweep (the training split is cycled as often as needed)", DefaultValueFactory = _ => new LrFindOptions().Steps };
    private static readonly Option<string> Plot = new("--plot") { Description = "Where the PNG of loss against learning rate goes", DefaultValueFactory = _ => "lr-find.png" };
    private static readonly Option<int> Seed = new("--seed") { Description = "Seed of split, initialisation and shuffling", DefaultValueFactory = _ => Defaults.Seed };

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var command = new Command("lr-find", "Learning-rate range test: train the network a classify/segment run would start from (pretrained where that is the default; no package) with an exponentially growing learning rate, plot the loss against it and suggest the rate of the steepest fall (classify/segment --lr auto run the same)");
        foreach (var option in new Option[] { Data, Arch, ImageSize, Width, BatchSize, Optimizer, Start, End, Steps, Plot, Seed, CommonOptions.RecallTarget, CommonOptions.Threads, CommonOptions.Json })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
        {
            var data = parse.GetValue(Data)!;
            var arch = parse.GetValue(Arch) ?? (IsClassifierData(data) ? new ClassifyRequest { Data = data, ModelsDirectory = "" }.Arch : new SegmenterOptions().Arch);
            var sweep = new LrFindOptions { Start = parse.GetValue(Start), End = parse.GetValue(End), Steps = parse.GetValue(Steps) };
            sweep.Validate();
            var result = Architectures.SegmenterNames.Contains(arch) ? Segment(parse, data, arch, sweep, progress)
                : Architectures.ClassifierNames.Contains(arch) ? Classify(parse, data, arch, sweep, progress)
                : throw new ArgumentException($"--arch: unknown architecture '{arch}' (classifier: {string.Join(", ", Architectures.ClassifierNames)}; segmenter: {string.Join(", ", Architectures.SegmenterNames)})");
            var plot = LrFindPlot.Write(Path.GetFullPath(parse.GetValue(Plot)!), result);
            if (progress is JsonProgress json)
            {
                json.Write(new
                {
                    @event = "result",
                    arch,
                    suggested_lr = result.Suggested,
                    slope_per_decade = result.Slope,
                    minimum_loss_lr = result.MinimumLossRate,
                    stopped = result.Stopped,
                    plot,
                    points = result.Points.Select(p => new { lr = p.LearningRate, loss = p.Loss, smoothed_loss = p.SmoothedLoss }),
                });
            }
            else
            {
                progress.Message(result.ToString());
                progress.Message($"plot: {plot}");
            }

            return 0;
        }));
        return command;
    }

    private static bool IsClassifierData(string data)
    {
        var options = new ClassificationDataOptions();
        return File.Exists(data) || (Directory.Exists(Path.Combine(data, options.GoodClass)) && Directory.Exists(Path.Combine(data, options.DefectClass)));
    }

    private static LrFindResult Classify(ParseResult parse, string data, string arch, LrFindOptions sweep, ITrainingProgress progress)
    {
        var c = Defaults.Classifier;
        var seed = parse.GetValue(Seed);
        var request = new ClassifyRequest
        {
            Data = data,
            ModelsDirectory = "", // lr-find starts from no package and writes only its plot
            Arch = arch,
            RecallTarget = parse.GetValue(CommonOptions.RecallTarget),
            ImageSize = parse.GetValue(ImageSize) ?? c.ImageSize,
            WidthMultiplier = parse.GetValue(Width) ?? c.WidthMultiplier,
            DataOptions = new ClassificationDataOptions { Seed = seed, ValidationFraction = Defaults.ValidationFraction, TestFraction = Defaults.TestFraction },
            Training = new TrainingOptions { BatchSize = parse.GetValue(BatchSize) ?? c.BatchSize, Optimizer = parse.GetValue(Optimizer) ?? "adam", Seed = seed },
            Init = "scratch",
        };
        return new ClassifierRun(progress).FindLearningRate(request, sweep);
    }

    private static LrFindResult Segment(ParseResult parse, string data, string arch, LrFindOptions sweep, ITrainingProgress progress)
    {
        var s = Defaults.Segmenter;
        var training = SegmenterOptions.DefaultTraining;
        var request = new SegmentRequest
        {
            Data = data,
            ModelsDirectory = "",
            ValidationFraction = Defaults.ValidationFraction,
            TestFraction = Defaults.TestFraction,
            Options = new SegmenterOptions
            {
                Arch = arch,
                ImageSize = parse.GetValue(ImageSize) ?? s.ImageSize,
                WidthMultiplier = parse.GetValue(Width) ?? s.WidthMultiplier,
                Training = training with { BatchSize = parse.GetValue(BatchSize) ?? s.BatchSize, Optimizer = parse.GetValue(Optimizer) ?? training.Optimizer, Seed = parse.GetValue(Seed) },
            },
        };
        return SegmenterRun.FindLearningRate(request, sweep, progress);
    }
}
