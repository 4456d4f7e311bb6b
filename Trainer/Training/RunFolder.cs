using System.Globalization;
using System.Text.Json;

namespace Inspection.Trainer.Training;

/// <summary>
/// A run's folder, <c>MODELS/runs/&lt;task&gt;-&lt;version&gt;/</c>: its <c>request.json</c>, the loop's
/// <c>checkpoint/</c>, the report, and <c>done</c> once the package is written. <c>--resume</c> picks the latest folder
/// of the task with a checkpoint and no <c>done</c>.
/// </summary>
internal static class RunFolder
{
    private static readonly JsonSerializerOptions RequestJson = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>A new run folder (version: <paramref name="version"/> or the UTC time, made unique), or the one to resume.</summary>
    public static (string Directory, string Version) Open(string modelsDirectory, string task, string? version, bool resume, object request, ITrainingProgress progress)
    {
        var runs = Path.Combine(Path.GetFullPath(modelsDirectory), "runs");
        Directory.CreateDirectory(runs);
        if (resume)
        {
            var latest = Directory.GetDirectories(runs, $"{task}-*")
                .Where(d => File.Exists(Path.Combine(Checkpoint(d), "state.json")) && !File.Exists(Path.Combine(d, "done")))
                .Order(StringComparer.Ordinal).LastOrDefault()
                ?? throw new ArgumentException($"{runs}: no unfinished {task} run with a checkpoint to resume");
            progress.Message($"resuming {latest}");
            return (latest, Path.GetFileName(latest)[(task.Length + 1)..]);
        }

        var stem = version ?? DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var chosen = stem;
        for (var i = 2; Directory.Exists(Path.Combine(runs, $"{task}-{chosen}")) || Directory.Exists(Path.Combine(modelsDirectory, task, chosen)); i++)
        {
            chosen = $"{stem}-{i}";
        }

        var dir = Path.Combine(runs, $"{task}-{chosen}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "request.json"), JsonSerializer.Serialize(request, RequestJson));
        return (dir, chosen);
    }

    /// <summary>The loop's checkpoint folder inside a run folder.</summary>
    public static string Checkpoint(string runDirectory) => Path.Combine(runDirectory, "checkpoint");

    /// <summary>Marks the run finished (it is no longer resumed), naming the package it wrote.</summary>
    public static void MarkDone(string runDirectory, string packageDirectory) => File.WriteAllText(Path.Combine(runDirectory, "done"), packageDirectory + "\n");
}
