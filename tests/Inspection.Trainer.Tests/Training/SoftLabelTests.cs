using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets.Classification;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Training;

/// <summary><c>trainer classify --soft-labels</c>: the loss compares with a labels file's probabilities, while the defect
/// label (metrics, thresholds, split) stays the cutoff's.</summary>
public sealed class SoftLabelTests
{
    [Fact]
    public void Soft_labels_make_the_loss_compare_with_the_labels_files_probability_and_keep_the_cutoffs_label()
    {
        using var dir = new TempDirectory("soft");
        SyntheticData.TextureFolders(dir.Path, perClass: 10, size: 32, colour: false);
        var lines = Directory.GetFiles(dir.Combine("good")).Order(StringComparer.Ordinal).Select((p, i) => $"good/{Path.GetFileName(p)}  {(i < 5 ? "0.3333333" : "0.0")}")
            .Concat(Directory.GetFiles(dir.Combine("defect")).Order(StringComparer.Ordinal).Select((p, i) => $"defect/{Path.GetFileName(p)}  {(i < 5 ? "0.6666667" : "1.0")}"));
        File.WriteAllLines(dir.Combine("labels.csv"), lines);
        var dataset = ClassificationDataset.Load(dir.Combine("labels.csv"), new ClassificationDataOptions());

        var third = dataset.Images.First(i => i.Probability is > 0.3 and < 0.4);
        Assert.False(third.Defect);
        Assert.Equal(0f, third.Target(soft: false));
        Assert.Equal(1 / 3f, third.Target(soft: true), 1e-6f);
        Assert.True(dataset.Images.First(i => i.Probability is > 0.6 and < 0.7).Defect);

        // A network whose logit is 2 for every image: its loss is the mean BCE against the targets, so it tells them apart.
        var spec = new InputSpec { Width = 32, Height = 32, Channels = 1, Mean = [0.5f], Std = [0.25f] };
        var train = TensorSet.Build(dataset.Images, spec);
        var augmenter = new Augmenter(AugmentOptions.None, spec, seed: 1);
        using var model = new ConstantLogit(2f);
        using var hard = new ClassifierTask(model, train, train, posWeight: 1, augmenter, batchSize: 4, CPU);
        using var soft = new ClassifierTask(model, train, train, posWeight: 1, augmenter, batchSize: 4, CPU, softLabels: true);
        var batch = Enumerable.Range(0, train.Count).ToArray();
        using var hardLoss = hard.Loss(batch, epoch: 0, step: 0);
        using var softLoss = soft.Loss(batch, epoch: 0, step: 0);

        Assert.Equal(ExpectedLoss(train.Images.Select(i => i.Target(false))), hardLoss.item<float>(), 1e-4);
        Assert.Equal(ExpectedLoss(train.Images.Select(i => i.Target(true))), softLoss.item<float>(), 1e-4);
    }

    [Fact]
    public void Soft_labels_on_folder_per_class_data_are_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory("soft-folders");
        SyntheticData.TextureFolders(dir.Combine("data"), perClass: 6, size: 32, colour: false);
        var (code, _, stderr) = TrainerProcess.Run("classify", "--data", dir.Combine("data"), "--out", dir.Combine("models"), "--soft-labels");

        Assert.Equal(1, code);
        Assert.Contains("--soft-labels trains on a labels file's probabilities", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("models")), "a refused run wrote into the models folder");
    }

    private static double ExpectedLoss(IEnumerable<float> targets)
    {
        var p = 1 / (1 + Math.Exp(-2));
        return targets.Average(t => -((t * Math.Log(p)) + ((1 - t) * Math.Log(1 - p))));
    }

    private sealed class ConstantLogit(float logit) : nn.Module<Tensor, Tensor>("constant")
    {
        public override Tensor forward(Tensor input) => full(input.shape[0], 1, logit);
    }
}
