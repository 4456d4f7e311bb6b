using Inspection.Camera.Preprocessing;
using Inspection.Camera.Sources;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Inference;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.TestSupport;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.EndToEnd.Tests;

/// <summary>The trainer's scorer (what its quality gate, its threshold choice and <c>trainer eval</c> run) and the
/// daemon's inspector score the same image files through Inspection.Inference, to the last bit.</summary>
public sealed class SharedInferenceTests
{
    [Fact]
    public void Trainer_gate_and_eval_scorer_and_daemon_inspector_give_bit_identical_scores()
    {
        using var temp = new TempDirectory("e2e-shared-inference");
        var models = temp.Combine("models");
        TrainerPackages.WriteBoth(models, "1");
        var images = new List<LabelledImage>();
        for (var i = 0; i < 6; i++)
        {
            var (frame, mask, _) = SyntheticScene.Render(160, 120, seed: 30 + i, frameNumber: i, defectRate: 0.5);
            using (frame)
            using (mask)
            {
                var path = temp.Combine($"scene{i}.png");
                Cv2.ImWrite(path, frame);
                images.Add(new LabelledImage(path, $"scene{i}.png", i % 2 == 0, Splits.Test));
            }
        }

        // Both with their defaults: the daemon's Models:Threads 0 and the trainer's threads 0.
        var package = ModelPackage.OpenCurrent(models, ModelTasks.Classifier);
        var trainerScores = PackageScorer.Score(package, images);
        using var store = new ModelStore(new ModelsOptions { Directory = models, Provider = ModelProvider.Cpu }, TimeProvider.System, NullLogger<ModelStore>.Instance);
        store.LoadInitial();
        using var inspector = new Inspector(store, new PipelineOptions());
        var daemonScores = images.Select(image =>
        {
            using var mat = ImageFiles.Read(image.Path);
            return inspector.Inspect(mat, "file", forceSegmentation: false).Score;
        }).ToList();

        Assert.Equal(trainerScores, daemonScores);                 // exact, not within a tolerance
        Assert.True(trainerScores.Distinct().Count() > 1);       // different images, different scores: not a constant
    }
}
