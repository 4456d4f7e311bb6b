using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Segmentation;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Segmentation;

// Torch-heavy: run one at a time, so parallel test classes do not starve each other on a small machine.
[Collection(SegmenterCollection.Name)]
public sealed class SegmenterTrainingTests(ITestOutputHelper output)
{
    [Fact]
    public void Training_on_synthetic_aerial_scenes_reaches_a_high_iou_and_writes_a_package()
    {
        using var dir = new TempDirectory("seg-train");
        AerialScenes.WriteDataset(dir.Combine("data", "site A"), 64, 64);
        var log = new TextProgress();
        var request = new SegmentRequest
        {
            Data = dir.Combine("data"),
            ModelsDirectory = dir.Combine("models"),
            Options = new SegmenterOptions { ImageSize = 64, WidthMultiplier = 0.35, Epochs = 10, BatchSize = 4, Seed = 3 },
            ValidationFraction = 0.2,
            TestFraction = 0.2,
        };

        var outcome = SegmenterRun.Run(request, log);
        output.WriteLine(log.ToString());

        Assert.True(outcome.Test!.Iou > 0.8, $"test IoU {outcome.Test.Iou:F3}\n{log}");
        var package = ModelPackage.OpenCurrent(dir.Combine("models"), ModelTasks.Segmenter);
        Assert.Equal("unet-mobilenetv2", package.Manifest.Arch);
        Assert.Equal(outcome.Threshold.Value, package.Manifest.Threshold.Value);
        Assert.Equal("best-iou", package.Manifest.Threshold.Method);
        Assert.True(File.Exists(Path.Combine(outcome.ReportDirectory, "examples.png")));
        Assert.True(File.Exists(Path.Combine(outcome.ReportDirectory, "metrics.json")));
    }
}
