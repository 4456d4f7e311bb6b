using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Losses;
using Inspection.Trainer.Models;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Tests.Segmentation;
using Inspection.Trainer.Tests.Training;
using OpenCvSharp;

namespace Inspection.Trainer.Tests.Pretrained;

public sealed class PretrainedSegmenterTests
{
    [Fact]
    public void Positive_weight_from_masks_is_about_ten_when_defects_cover_one_percent()
    {
        using var mask = new Mat(100, 100, MatType.CV_8UC1, Scalar.All(0));
        mask.Rectangle(new Rect(0, 0, 10, 10), Scalar.All(1), -1);
        using var empty = new Mat(100, 100, MatType.CV_8UC1, Scalar.All(0));

        var (weight, fraction) = SegmentationLoss.DerivePositiveWeight([mask, empty]);

        Assert.Equal(0.005, fraction, 6);
        Assert.Equal(Math.Sqrt(0.995 / 0.005), weight, 6);
        Assert.Equal(SegmentationLoss.MaxPositiveWeight, SegmentationLoss.DerivePositiveWeight([empty]).Weight);
    }

    [Fact]
    public void Bad_segmenter_choices_are_refused_naming_them_and_nothing_is_written()
    {
        using var dir = new TempDirectory("seg-pretrained-bad");
        AerialScenes.WriteDataset(dir.Combine("data"), 12, 64, seed: 8);
        SegmentRequest Request(SegmenterOptions options, ModelPackage? init = null) => new()
        {
            Data = dir.Combine("data"),
            ModelsDirectory = dir.Combine("models"),
            Options = options,
            InitFrom = init,
            ValidationFraction = 0.2,
            TestFraction = 0.2,
        };
        var small = new SegmenterOptions { ImageSize = 64, Training = SegmenterOptions.DefaultTraining with { Epochs = 1, BatchSize = 2 } };

        Assert.Contains("ImageNet weights for --arch unet-resnet18 only, not unet-mobilenetv2", Assert.Throws<ArgumentException>(
            () => SegmenterRun.Run(Request(small with { Arch = Architectures.UNetMobileNetV2, Pretrained = Pretraining.ImageNet }), new RecordingProgress())).Message);
        Assert.Contains("unknown segmenter architecture 'unet-vgg'", Assert.Throws<ArgumentException>(
            () => SegmenterRun.Run(Request(small with { Arch = "unet-vgg", Pretrained = Pretraining.None }), new RecordingProgress())).Message);
        Assert.Contains("U-Net input size must be a positive multiple of 32", Assert.Throws<ArgumentException>(
            () => SegmenterRun.Run(Request(small with { ImageSize = 80 }), new RecordingProgress())).Message);
        Assert.False(Directory.Exists(dir.Combine("models")), "a refused choice must not leave a run folder behind");

        var mobile = SegmenterRun.Run(Request(small with { Arch = Architectures.UNetMobileNetV2, WidthMultiplier = 0.25 }), new RecordingProgress());
        var before = Directory.GetDirectories(Path.Combine(dir.Path, "models", ModelTasks.Segmenter)).Length;
        var mismatch = Assert.Throws<ModelPackageException>(
            () => SegmenterRun.Run(Request(small, ModelPackage.Open(mobile.Package.Package.Directory)), new RecordingProgress()));
        Assert.Contains("is a unet-mobilenetv2; this run trains a unet-resnet18", mismatch.Message);
        Assert.Equal(before, Directory.GetDirectories(Path.Combine(dir.Path, "models", ModelTasks.Segmenter)).Length);
    }
}
