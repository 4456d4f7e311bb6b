using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary>One model that <c>trainer --recall-target R</c> retrains from the config.</summary>
/// <param name="Name">Task name, as in the messages.</param>
/// <param name="IsConfigured">Whether the config names data for it.</param>
/// <param name="Retrain">Retrains it; returns the exit code (0 made current, 2 gate kept the old one, else error).</param>
public sealed record RetrainTask(string Name, Func<InspectionOptions, bool> IsConfigured, Func<InspectionOptions, RetrainSettings, ITrainingProgress, int> Retrain);

/// <summary>What the command line adds to the config for a retrain-all run.</summary>
public sealed record RetrainSettings(double RecallTarget, bool Force, string? ModelsDirectory);

/// <summary>
/// <c>trainer --recall-target R</c>: retrains every model the config names data for (<c>Trainer:Classifier:Data</c>,
/// <c>Trainer:Segmenter:Data</c>), each continuing from its current package. To add a model, add one
/// <see cref="RetrainTask"/> to <see cref="Tasks"/>.
/// </summary>
public static class RetrainAll
{
    /// <summary>The models retrained, in order.</summary>
    public static List<RetrainTask> Tasks { get; } =
    [
        new("classifier", o => !string.IsNullOrWhiteSpace(o.Trainer.Classifier.Data), RetrainClassifier),
        new("segmenter", o => !string.IsNullOrWhiteSpace(o.Trainer.Segmenter.Data), SegmentCommand.Retrain),
    ];

    /// <summary>Runs every configured task; the exit code is the worst of theirs (errors over gate rejections).</summary>
    public static int Run(string configPath, RetrainSettings settings, ITrainingProgress progress)
    {
        var options = ConfigLoader.Load(configPath);
        var configured = Tasks.Where(t => t.IsConfigured(options)).ToList();
        if (configured.Count == 0)
        {
            throw new ArgumentException($"{configPath}: names no training data (set Trainer:Classifier:Data and/or Trainer:Segmenter:Data)");
        }

        var worst = 0;
        foreach (var task in configured)
        {
            progress.Message($"== retraining {task.Name} ==");
            int code;
            try
            {
                code = task.Retrain(options, settings, progress);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // One model failing must not stop the others; its error is reported and counted.
                progress.Message($"{task.Name}: error: {ex.Message}");
                code = 1;
            }

            worst = code == 1 || worst == 1 ? 1 : Math.Max(worst, code);
        }

        return worst;
    }

    private static int RetrainClassifier(InspectionOptions options, RetrainSettings settings, ITrainingProgress progress)
    {
        var t = options.Trainer;
        var c = t.Classifier;
        return ClassifyCommand.Execute(new ClassifyRequest
        {
            Data = c.Data,
            ModelsDirectory = settings.ModelsDirectory ?? options.Models.Directory,
            RecallTarget = settings.RecallTarget,
            Arch = c.Arch,
            ImageSize = c.ImageSize,
            WidthMultiplier = c.WidthMultiplier,
            DataOptions = new() { Seed = t.Seed, ValidationFraction = t.ValidationFraction, TestFraction = t.TestFraction },
            Training = new TrainingOptions { Epochs = c.Epochs, BatchSize = c.BatchSize, Seed = t.Seed },
            Force = settings.Force,
        }, progress);
    }
}
