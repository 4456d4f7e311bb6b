using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Models;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Tests.Training;
using Inspection.Trainer.Training;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Pretrained;

public sealed class PretrainedClassifierTests
{
    private static ClassifyRequest Request(string data, string models) => new()
    {
        Data = data,
        ModelsDirectory = models,
        RecallTarget = 0.9,
        ImageSize = 64,
        Training = new TrainingOptions { Epochs = 15, BatchSize = 16, LearningRate = 3e-3, Patience = 0 },
        Augment = AugmentOptions.None with { HorizontalFlip = true, VerticalFlip = true },
        Init = "scratch",
    };

    [Fact]
    public void Head_only_on_the_pretrained_backbone_separates_scratches_and_writes_a_resnet18_package()
    {
        using var dir = new TempDirectory("head-only");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 40, size: 64, seed: 4, colour: true);
        var progress = new RecordingProgress();

        var result = new ClassifierRun(progress).Run(Request(data, dir.Combine("models")) with { HeadOnly = true, Force = true });

        var manifest = ModelPackage.Open(result.PackageDirectory).Manifest;
        Assert.Equal((Architectures.ResNet18, Pretraining.ImageNet, 3), (manifest.Arch, manifest.Training.InitFrom, manifest.Input.Channels));
        Assert.Equal(ImageNetResNet18.InputSpecFor(3, 64, 64, "stretch").Mean, manifest.Input.Mean);
        Assert.Contains(progress.Messages, m => m.StartsWith("head-only: features of", StringComparison.Ordinal));
        Assert.Equal(15, progress.Epochs.Count);
        Assert.True(result.Test.Auroc >= 0.85, $"test AUROC {result.Test.Auroc:F3}");
    }

    [Fact]
    public void An_interrupted_fine_tuning_run_resumes_with_its_parameter_groups_and_keeps_its_imagenet_init()
    {
        using var dir = new TempDirectory("fine-tune-resume");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 16, size: 32, seed: 7);
        var models = dir.Combine("models");
        var request = Request(data, models) with { ImageSize = 32, Training = new TrainingOptions { Epochs = 3, BatchSize = 8, Patience = 0 }, Force = true };
        var first = new RecordingProgress();
        Assert.Throws<TrainingDivergedException>(() => new ClassifierRun(first).Run(
            request with { Training = request.Training with { InjectNonFiniteLoss = (epoch, _) => epoch == 3, MaxBadSteps = 2 } }));
        var resumed = new RecordingProgress();

        var result = new ClassifierRun(resumed).Run(request with { Resume = true });

        Assert.Equal([1, 2], first.Epochs.Select(e => e.Epoch));
        Assert.Equal([3], resumed.Epochs.Select(e => e.Epoch));
        Assert.Contains(resumed.Messages, m => m.StartsWith("optimizer:", StringComparison.Ordinal) && m.Contains("backbone", StringComparison.Ordinal));
        Assert.Equal(Pretraining.ImageNet, ModelPackage.Open(result.PackageDirectory).Manifest.Training.InitFrom);
    }

    [Fact]
    public void Fine_tuning_keeps_the_backbone_and_its_statistics_during_the_head_phase_then_trains_it()
    {
        using var dir = new TempDirectory("fine-tune");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 20, size: 32, seed: 5);
        var dataset = ClassificationDataset.Load(data, new ClassificationDataOptions());
        var spec = ImageNetResNet18.InputSpecFor(1, 32, 32, "stretch");
        var train = TensorSet.Build(dataset.In(Splits.Train), spec);
        using var model = new ResNet18Classifier(1);
        ImageNetResNet18.Load(model.Backbone, spec);
        var before = Weights(model);

        var options = new TrainingOptions { Epochs = 2, BatchSize = 8, Patience = 0 };
        var groups = Pretraining.FineTuningGroups(model, options.Epochs);
        Assert.Equal((1, Pretraining.BackboneFactor), (groups[0].FrozenEpochs, groups[0].LearningRateFactor));
        Train(model, train, options with { Epochs = 1 }, groups, dir.Combine("a"));
        var afterHead = Weights(model);
        Train(model, train, options, groups, dir.Combine("b"));
        var afterAll = Weights(model);

        Assert.All(before.Where(kv => kv.Key.StartsWith("backbone.", StringComparison.Ordinal) && !kv.Key.EndsWith("num_batches_tracked", StringComparison.Ordinal)),
            kv => Assert.Equal(kv.Value, afterHead[kv.Key]));
        Assert.NotEqual(before["fc.weight"], afterHead["fc.weight"]);
        Assert.NotEqual(afterHead["backbone.stem.conv.weight"], afterAll["backbone.stem.conv.weight"]);
    }

    [Fact]
    public void Bad_choices_are_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory("pretrained-bad");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 12, size: 32, seed: 6);
        var models = dir.Combine("models");
        var run = new ClassifierRun(new RecordingProgress());

        Assert.Contains("ImageNet weights for --arch resnet18 only, not mobilenetv2",
            Assert.Throws<ArgumentException>(() => run.Run(Request(data, models) with { Arch = Architectures.MobileNetV2, Pretrained = "imagenet" })).Message);
        Assert.Contains("--pretrained must be imagenet or none (got 'coco')",
            Assert.Throws<ArgumentException>(() => run.Run(Request(data, models) with { Pretrained = "coco" })).Message);
        Assert.Contains("--image-size 100: the ResNet-18 takes sides that are multiples of 32",
            Assert.Throws<ArgumentException>(() => run.Run(Request(data, models) with { ImageSize = 100 })).Message);
        Assert.Contains("--head-only trains the head on a pretrained backbone",
            Assert.Throws<ArgumentException>(() => run.Run(Request(data, models) with { Arch = Architectures.ResNet, HeadOnly = true })).Message);
        Assert.Contains("--average-last averages the training loop's epochs; --head-only",
            Assert.Throws<ArgumentException>(() => run.Run(Request(data, models) with { HeadOnly = true, Training = new TrainingOptions { AverageLast = 3 } })).Message);
        Assert.False(Directory.Exists(Path.Combine(models, ModelTasks.Classifier)));
    }

    [Fact]
    public void Continuing_a_grey_package_with_colour_input_is_refused_naming_both()
    {
        using var dir = new TempDirectory("pretrained-mismatch");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 16, size: 32, seed: 7);
        var models = dir.Combine("models");
        var first = new ClassifierRun(new RecordingProgress()).Run(Request(data, models) with { ImageSize = 32, HeadOnly = true, Force = true, Training = new TrainingOptions { Epochs = 1, BatchSize = 8, FeaturePasses = 1 } });
        var packages = Directory.GetDirectories(Path.Combine(models, ModelTasks.Classifier)).Length;

        var error = Assert.Throws<ModelPackageException>(() => new ClassifierRun(new RecordingProgress()).Run(Request(data, models) with { Init = first.PackageDirectory, Channels = 3 }));

        Assert.Contains("is a resnet18 with 1 channel(s) (grey); this run trains a resnet18 with 3 (rgb)", error.Message);
        Assert.Equal(packages, Directory.GetDirectories(Path.Combine(models, ModelTasks.Classifier)).Length);
    }

    [Theory]
    [InlineData(600, 200, 320, 96)]
    [InlineData(300, 300, 288, 288)]
    [InlineData(100, 60, 96, 64)]
    [InlineData(2000, 1000, 320, 160)]
    public void Input_size_from_the_data_keeps_the_aspect_and_never_upscales_much(int width, int height, int expectedWidth, int expectedHeight) =>
        Assert.Equal((expectedWidth, expectedHeight), InputSize.For(width, height, 32));

    private static void Train(ResNet18Classifier model, TensorSet train, TrainingOptions options, IReadOnlyList<ParameterGroup> groups, string checkpoints)
    {
        using var task = new ClassifierTask(model, train, train, posWeight: 1, new Augmenter(AugmentOptions.None, train.Spec, 1), options.BatchSize, CPU, groups);
        new TrainingLoop(options, new RecordingProgress()).Train(task, checkpoints, resume: false);
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static Dictionary<string, float[]> Weights(nn.Module model)
    {
        using var scope = NewDisposeScope();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().to_type(ScalarType.Float32).data<float>().ToArray());
    }
}
