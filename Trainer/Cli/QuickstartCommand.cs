using System.CommandLine;
using System.Diagnostics;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Quickstart;
using Inspection.Trainer.Models;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary>
/// <c>trainer quickstart --out MODELS</c>: small demo models in a minute or two on a CPU. It draws synthetic frames
/// (Camera's synthetic scene, the demo camera's generator), trains a small classifier and a small segmenter on them
/// with the normal commands' code, and makes both packages current under MODELS. <c>./run.sh</c> calls it when the demo
/// has no models yet.
/// </summary>
internal static class QuickstartCommand
{
    // Frames at half the demo camera's 640x480: defects keep their size relative to the frame, and files are quick to write.
    private const int FrameWidth = 320;
    private const int FrameHeight = 240;
    private const int Seed = 20260;

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Models folder: classifier/ and segmenter/ packages are written and made current there", Required = true };
        var images = new Option<int>("--images") { Description = "Synthetic frames per model", DefaultValueFactory = _ => 240 };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per model", DefaultValueFactory = _ => 6 };
        var command = new Command("quickstart", "Train small demo models (classifier and segmenter) on synthetic frames in a minute or two, and make them current in --out");
        foreach (var option in new Option[] { output, images, epochs, CommonOptions.Threads, CommonOptions.Json })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
            Run(parse.GetValue(output)!, parse.GetValue(images), parse.GetValue(epochs), progress)));
        return command;
    }

    /// <summary>Trains both demo models into <paramref name="modelsDirectory"/>; returns the exit code.</summary>
    public static int Run(string modelsDirectory, int images, int epochs, ITrainingProgress progress)
    {
        if (images < 40 || epochs < 1)
        {
            throw new ArgumentException($"quickstart needs --images of at least 40 and --epochs of at least 1 (got {images}, {epochs})");
        }

        var clock = Stopwatch.StartNew();
        var scratch = Path.Combine(Path.GetTempPath(), $"inspection-quickstart-{Guid.NewGuid():N}");
        try
        {
            progress.Message($"quickstart: drawing {images} synthetic frames per model ({FrameWidth}x{FrameHeight}) into {scratch}");
            var (good, defect) = DemoDatasets.WriteClassification(Path.Combine(scratch, "classification"), images, FrameWidth, FrameHeight, Seed);
            DemoDatasets.WriteSegmentation(Path.Combine(scratch, "segmentation"), images, FrameWidth, FrameHeight, Seed + 1);

            progress.Message($"== classifier ({good} good, {defect} defect frames) ==");
            ClassifyCommand.Execute(new ClassifyRequest
            {
                Data = Path.Combine(scratch, "classification"),
                ModelsDirectory = modelsDirectory,
                RecallTarget = 0.95,
                Arch = Architectures.MobileNetV2,
                ImageSize = 96,
                WidthMultiplier = 0.35,
                Training = new TrainingOptions { Epochs = epochs, BatchSize = 16, LearningRate = 3e-3, Patience = 0, Seed = Seed },
                Init = "scratch",
                Force = true, // a demo needs a current model even when the tiny run would not pass the gate
            }, progress);

            progress.Message("== segmenter ==");
            SegmenterRun.Run(new SegmentRequest
            {
                Data = Path.Combine(scratch, "segmentation"),
                ModelsDirectory = modelsDirectory,
                Options = new SegmenterOptions { Arch = Architectures.UNetMobileNetV2, ImageSize = 128, WidthMultiplier = 0.35, Training = SegmenterOptions.DefaultTraining with { Epochs = epochs + 2, BatchSize = 8, Seed = Seed } },
                ValidationFraction = 0.15,
                TestFraction = 0.1,
                Force = true, // as for the classifier: the demo needs a current segmenter
            }, progress);
            progress.Message($"quickstart: both demo models are current in {Path.GetFullPath(modelsDirectory)} ({clock.Elapsed.TotalSeconds:F0} s)");
            return 0;
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }
}
