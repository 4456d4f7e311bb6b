using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Training;

/// <summary><c>--average-last</c>: the loop averages the last epochs' weights and keeps the average only when it validates better.</summary>
public sealed class WeightAveragingTests
{
    // Validation scores of epochs 1-6: epoch 2 is the best single epoch.
    private static readonly double[] EpochScores = [0.1, 0.5, 0.3, 0.2, 0.4, 0.1];

    [Fact]
    public void The_average_of_the_last_epochs_is_kept_when_it_validates_better_batch_norm_statistics_included()
    {
        using var dir = new TempDirectory("average-better");
        using var task = new ScriptedTask(averageScore: 0.9);

        var result = new TrainingLoop(Options(averageLast: 3), new RecordingProgress()).Train(task, dir.Path, resume: false);

        Assert.Equal(new EpochAverage(4, 6), result.Averaged);
        Assert.Equal(2, result.BestEpoch);
        var held = ScriptedTask.Weights(task.Model);
        Assert.Contains(held.Keys, name => name.Contains("running_mean", StringComparison.Ordinal));
        foreach (var (name, values) in held)
        {
            for (var i = 0; i < values.Length; i++)
            {
                var mean = Enumerable.Range(3, 3).Average(epoch => task.SeenAtEpochEnd[epoch][name][i]);
                Assert.Equal(mean, values[i], 5);
            }
        }

        // Only the window's epochs are kept on disk.
        Assert.Equal(["epoch-4.bin", "epoch-5.bin", "epoch-6.bin"], Directory.GetFiles(dir.Path, "epoch-*").Select(Path.GetFileName).Order());
    }

    [Fact]
    public void The_best_epoch_is_kept_when_the_average_validates_worse()
    {
        using var dir = new TempDirectory("average-worse");
        using var task = new ScriptedTask(averageScore: 0.05);
        var progress = new RecordingProgress();

        var result = new TrainingLoop(Options(averageLast: 3), progress).Train(task, dir.Path, resume: false);

        Assert.Null(result.Averaged);
        Assert.Equal(2, result.BestEpoch);
        var held = ScriptedTask.Weights(task.Model);
        foreach (var (name, values) in held)
        {
            Assert.Equal(task.SeenAtEpochEnd[1][name], values);
        }

        Assert.Contains(progress.Messages, m => m.Contains("average of epochs 4-6: validation score 0.0500 against 0.5000 of epoch 2: epoch 2 is kept", StringComparison.Ordinal));
    }

    [Fact]
    public void A_classify_run_with_average_last_records_it_in_the_package_it_exports()
    {
        using var dir = new TempDirectory("average-classify");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 24, size: 48, seed: 5);
        var progress = new RecordingProgress();
        var request = ClassifierTrainingTests.Request(data, dir.Combine("models"), epochs: 3) with { Force = true };

        var result = new ClassifierRun(progress).Run(request with { Training = request.Training with { AverageLast = 2 } });

        // The package was exported and checked in ONNX Runtime against TorchSharp (the run refuses a mismatch).
        var training = ModelPackage.Open(result.PackageDirectory).Manifest.Metrics["training"];
        var verdict = Assert.Single(progress.Messages, m => m.StartsWith("average of epochs 2-3: validation AP", StringComparison.Ordinal));
        var kept = verdict.EndsWith("the average is kept", StringComparison.Ordinal);
        Assert.Equal(2, training["average_last"]);
        Assert.Equal(kept, training.ContainsKey("averaged_from_epoch"));
        if (kept)
        {
            Assert.Equal((2, 3), (training["averaged_from_epoch"], training["averaged_to_epoch"]));
        }
    }

    [Fact]
    public void The_package_metrics_name_the_averaged_epochs_only_when_the_average_was_kept()
    {
        var kept = new Dictionary<string, double>();
        var notKept = new Dictionary<string, double>();

        EpochAverage.Record(kept, 10, new EpochAverage(21, 30));
        EpochAverage.Record(notKept, 10, null);

        Assert.Equal(new Dictionary<string, double> { ["average_last"] = 10, ["averaged_from_epoch"] = 21, ["averaged_to_epoch"] = 30 }, kept);
        Assert.Equal(new Dictionary<string, double> { ["average_last"] = 10 }, notKept);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-2)]
    public void An_average_over_fewer_than_two_epochs_is_refused_naming_the_option(int averageLast)
    {
        using var dir = new TempDirectory("average-bad");
        using var task = new ScriptedTask(averageScore: 0.9);

        var error = Assert.Throws<ArgumentException>(() => new TrainingLoop(Options(averageLast), new RecordingProgress()).Train(task, dir.Path, resume: false));

        Assert.Contains($"--average-last must be 0 (off) or at least 2 epochs (got {averageLast})", error.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    private static TrainingOptions Options(int averageLast) => new()
    {
        Epochs = EpochScores.Length, BatchSize = 4, Optimizer = "sgd", LearningRate = 0.05, Schedule = "constant", Patience = 0, AverageLast = averageLast,
    };

    /// <summary>A small network pulled towards +1 in odd epochs and -1 in even ones (so every epoch's weights differ),
    /// whose validation scores are scripted: <see cref="EpochScores"/> per epoch, then the average's.</summary>
    private sealed class ScriptedTask(double averageScore) : ITrainingTask, IDisposable
    {
        private readonly Tensor _inputs = Inputs();
        private int _validations;

        public nn.Module<Tensor, Tensor> Model { get; } = ScriptedNetwork();

        public IReadOnlyList<ParameterGroup> ParameterGroups => [ParameterGroup.Of("all", Model)];

        public int TrainCount => 8;

        /// <summary>The model's floating-point state at each epoch's validation (index 0: epoch 1).</summary>
        public List<Dictionary<string, float[]>> SeenAtEpochEnd { get; } = [];

        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.CallerScope)]
        public Tensor Loss(int[] batch, int epoch, int step)
        {
            var target = epoch % 2 == 1 ? 1f : -1f;
            var output = Model.forward(_inputs.index_select(0, tensor(batch.Select(i => (long)i).ToArray())));
            return nn.functional.mse_loss(output, full_like(output, target));
        }

        public ValidationFigures Validate()
        {
            Model.eval();
            var index = _validations++;
            double score;
            if (index < EpochScores.Length)
            {
                SeenAtEpochEnd.Add(Weights(Model));
                score = EpochScores[index];
            }
            else
            {
                score = averageScore;
            }

            return new ValidationFigures(1 - score, 0, 0, new Dictionary<string, double> { ["score"] = score }, "score");
        }

        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
        public static Dictionary<string, float[]> Weights(nn.Module model)
        {
            using var scope = NewDisposeScope();
            return model.state_dict().Where(kv => kv.Value.is_floating_point())
                .ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(ScalarType.Float32).data<float>().ToArray());
        }

        public void Dispose()
        {
            _inputs.Dispose();
            Model.Dispose();
        }

        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
        private static Tensor Inputs()
        {
            torch.manual_seed(7);
            return torch.randn(8, 2);
        }

        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator + " " + TorchOwnership.Submodules)]
        private static nn.Module<Tensor, Tensor> ScriptedNetwork()
        {
            torch.manual_seed(3);
            return nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1));
        }
    }
}
