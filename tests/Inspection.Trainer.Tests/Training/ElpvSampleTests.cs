using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Training;

public sealed class ElpvSampleTests
{
    [DatasetFact("elpv")]
    public void Elpv_sample_reads_the_labels_file_and_training_reduces_the_loss()
    {
        var labels = Path.Combine(Repository.Dataset("elpv")!, "labels.csv");
        using var dir = new TempDirectory("elpv");
        var progress = new RecordingProgress();

        var result = new ClassifierRun(progress).Run(new ClassifyRequest
        {
            Data = labels,
            ModelsDirectory = dir.Combine("models"),
            RecallTarget = 0.95,
            Arch = Architectures.ResNet,
            ImageSize = 48,
            WidthMultiplier = 0.25,
            DataOptions = new ClassificationDataOptions { LimitPerClass = 40 },
            Training = new TrainingOptions { Epochs = 4, BatchSize = 16, LearningRate = 1e-3, Patience = 0 },
            Augment = AugmentOptions.None with { HorizontalFlip = true, VerticalFlip = true, Rotate90 = true },
            Init = "scratch",
        });

        var manifest = ModelPackage.Open(result.PackageDirectory).Manifest;
        Assert.Equal(80, manifest.Training.Split["train"] + manifest.Training.Split["validation"] + manifest.Training.Split["test"]);
        // The split is a stable hash of each file's path (not stratified): both classes must still reach the test set.
        Assert.InRange(manifest.Training.Split["test_defect"], 1, manifest.Training.Split["test"] - 1);
        Assert.Equal(1, manifest.Input.Channels); // ELPV cells are 8-bit grey
        Assert.True(progress.Epochs[^1].TrainLoss < progress.Epochs[0].TrainLoss, $"train loss {progress.Epochs[0].TrainLoss:F3} -> {progress.Epochs[^1].TrainLoss:F3}");
        Assert.True(result.Choice.Counts.Recall >= 0.95);
    }
}
