using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Training;
using Microsoft.Extensions.Configuration;

namespace Inspection.Trainer.Cli;

/// <summary>One model that <c>trainer --recall-target R</c> retrains from the config.</summary>
/// <param name="Name">Task name, as in the messages.</param>
/// <param name="IsConfigured">Whether the config names data for it.</param>
/// <param name="Retrain">Retrains it; returns the exit code (0 made current, 2 gate kept the old one, else error).</param>
internal sealed record RetrainTask(string Name, Func<InspectionOptions, bool> IsConfigured, Func<InspectionOptions, RetrainSettings, ITrainingProgress, int> Retrain);

/// <summary>What a retrain-all run uses besides the config: the recall target it settled on, and command-line flags.</summary>
internal sealed record RetrainSettings(double RecallTarget, bool Force, string? ModelsDirectory);

/// <summary>What the command line asked for; null means "not given", so the config decides.</summary>
/// <param name="RecallTarget"><c>--recall-target</c>, if given.</param>
/// <param name="Threads"><c>--threads</c>, if given.</param>
/// <param name="Force"><c>--force</c>.</param>
/// <param name="ModelsDirectory"><c>--out</c>, if given.</param>
internal sealed record RetrainArguments(double? RecallTarget, int? Threads, bool Force, string? ModelsDirectory);

/// <summary>A setting and where its value came from, for the run's first lines.</summary>
internal sealed record SettingSource<T>(T Value, string Source);

/// <summary>
/// <c>trainer --recall-target R</c>: retrains every model the config names data for (<c>Trainer:Classifier:Data</c>,
/// <c>Trainer:Segmenter:Data</c>), each continuing from its current package. To add a model, add one
/// <see cref="RetrainTask"/> to <see cref="Tasks"/>.
/// </summary>
internal static class RetrainAll
{
    /// <summary>The models retrained, in order.</summary>
    public static List<RetrainTask> Tasks { get; } =
    [
        new("classifier", o => !string.IsNullOrWhiteSpace(o.Trainer.Classifier.Data), RetrainClassifier),
        new("segmenter", o => !string.IsNullOrWhiteSpace(o.Trainer.Segmenter.Data), SegmentCommand.Retrain),
    ];

    /// <summary>Runs every configured task; the exit code is the worst of theirs (errors over gate rejections).</summary>
    public static int Run(string configPath, RetrainArguments arguments, ITrainingProgress progress)
    {
        var configuration = ConfigLoader.Build(configPath);
        var options = ConfigLoader.Bind(configuration);
        var configured = Tasks.Where(t => t.IsConfigured(options)).ToList();
        if (configured.Count == 0)
        {
            throw new ArgumentException($"{configPath}: names no training data (set Trainer:Classifier:Data and/or Trainer:Segmenter:Data)");
        }

        var recallTarget = Resolve(arguments.RecallTarget, "--recall-target", configuration, "Trainer:RecallTarget", options.Trainer.RecallTarget, configPath);
        if (recallTarget.Value is <= 0 or >= 1)
        {
            throw new ArgumentException($"--recall-target must be in (0, 1), e.g. 0.99 (got {CommonOptions.F(recallTarget.Value)})");
        }

        progress.Message($"recall target {CommonOptions.F(recallTarget.Value)} ({recallTarget.Source})");
        var threads = Resolve(arguments.Threads, "--threads", configuration, "Trainer:Threads", options.Trainer.Threads, configPath);
        if (threads.Value > 0)
        {
            TorchSharp.torch.set_num_threads(threads.Value);
        }

        progress.Message($"torch threads {TorchSharp.torch.get_num_threads()} ({(threads.Value > 0 ? threads.Source : $"all cores; {threads.Source}")})");
        var settings = new RetrainSettings(recallTarget.Value, arguments.Force, arguments.ModelsDirectory);

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

    /// <summary>
    /// The rule for a setting both the command line and the config can give: an explicit option wins, otherwise the
    /// config's key (file or <c>INSPECTION__</c> environment), otherwise the built-in default the options carry.
    /// </summary>
    public static SettingSource<T> Resolve<T>(T? explicitValue, string option, IConfigurationRoot configuration, string key, T configured, string configPath)
        where T : struct
    {
        if (explicitValue is { } given)
        {
            return new(given, $"from {option}");
        }

        var provider = configuration.Providers.LastOrDefault(p => p.TryGet(key, out _));
        return provider switch
        {
            null => new(configured, $"default; {key} is not set in {configPath}"),
            FileConfigurationProvider => new(configured, $"from {key} in {configPath}"),
            _ => new(configured, $"from {ConfigLoader.EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)}"),
        };
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
