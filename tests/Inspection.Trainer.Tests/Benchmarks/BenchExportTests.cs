using Inspection.Config.Models;
using Inspection.TestSupport;

namespace Inspection.Trainer.Tests.Benchmarks;

/// <summary><c>trainer bench --export-models</c>: the packages <c>inspectiond bench</c> times are the networks asked for.</summary>
public sealed class BenchExportTests
{
    [Fact]
    public void Export_models_writes_the_classifier_and_the_unet_named_in_arch_as_current()
    {
        using var dir = new TempDirectory("bench-export");
        var (code, _, stderr) = TrainerProcess.Run("bench", "--sizes", "32", "--batch", "1", "--steps", "1", "--warm-up", "0",
            "--arch", "resnet", "--arch", "unet-mobilenetv2", "--export-models", dir.Path);

        Assert.True(code == 0, $"exit {code}: {stderr}");
        Assert.Equal("resnet", ModelPackage.Open(dir.Combine(ModelTasks.Classifier, "current")).Manifest.Arch);
        Assert.Equal("unet-mobilenetv2", ModelPackage.Open(dir.Combine(ModelTasks.Segmenter, "current")).Manifest.Arch);
    }
}
