using System.Text.Json;
using Inspection.Config.Loading;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Cli;
using Inspection.Trainer.Tests.Segmentation;
using Xunit.Abstractions;

namespace Inspection.Trainer.Tests.Training;

/// <summary><c>trainer --config FILE</c> with no subcommand: every model the config names, with the config's settings.</summary>
public sealed class RetrainAllTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new("retrain-all");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Retrains_classifier_and_segmenter_with_the_configs_recall_target_recorded_in_both_packages()
    {
        var models = _dir.Combine("models");
        var config = WriteConfig("""
            {
              "Models": { "Directory": "MODELS" },
              "Trainer": {
                "RecallTarget": 0.9,
                "Threads": 2,
                "Classifier": { "Data": "CLASSIFIER", "Arch": "resnet", "ImageSize": 32, "Epochs": 1, "BatchSize": 8, "WidthMultiplier": 0.25 },
                "Segmenter": { "Data": "SEGMENTER", "ImageSize": 64, "Epochs": 1, "BatchSize": 4 }
              }
            }
            """
            .Replace("MODELS", models, StringComparison.Ordinal)
            .Replace("CLASSIFIER", SyntheticData.TextureFolders(_dir.Combine("classifier"), perClass: 20, size: 32, seed: 7), StringComparison.Ordinal)
            .Replace("SEGMENTER", WriteScenes(_dir.Combine("segmenter"), 16), StringComparison.Ordinal));

        var (code, stdout, stderr) = TrainerProcess.Run("--config", config, "--json");
        output.WriteLine(stdout);
        output.WriteLine(stderr);

        // 2: the classifier's one-epoch model may be kept beside by the gate; it is written either way.
        Assert.True(code is 0 or 2, $"exit {code}: {stderr}");
        var messages = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == "message").Select(e => e.GetProperty("text").GetString()).ToList();
        Assert.Contains($"recall target 0.9 (from Trainer:RecallTarget in {config})", messages);
        Assert.Contains($"torch threads 2 (from Trainer:Threads in {config})", messages);
        foreach (var task in new[] { ModelTasks.Classifier, ModelTasks.Segmenter })
        {
            var package = Assert.Single(Directory.GetDirectories(Path.Combine(models, task)), d => !Path.GetFileName(d).StartsWith('.') && Path.GetFileName(d) != "current");
            var manifest = ModelPackage.Open(package).Manifest;
            Assert.Equal(task, manifest.Task);
            Assert.Equal(0.9, manifest.Threshold.RecallTarget);
        }
    }

    [Fact]
    public void An_explicit_recall_target_wins_and_is_checked_before_training()
    {
        var config = WriteConfig("""{ "Trainer": { "RecallTarget": 0.9, "Classifier": { "Data": "/nonexistent" } } }""");

        var (code, _, stderr) = TrainerProcess.Run("--config", config, "--recall-target", "1.5");

        Assert.Equal(1, code);
        Assert.Contains("--recall-target must be in (0, 1), e.g. 0.99 (got 1.5)", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Recall_target_comes_from_the_option_then_the_config_then_the_default()
    {
        var set = WriteConfig("""{ "Trainer": { "RecallTarget": 0.95 } }""");
        var unset = WriteConfig("{}");
        var noEnvironment = new Dictionary<string, string?>();

        Assert.Equal(new SettingSource<double>(0.97, "from --recall-target"), Resolve(0.97, set, noEnvironment));
        Assert.Equal(new SettingSource<double>(0.95, $"from Trainer:RecallTarget in {set}"), Resolve(null, set, noEnvironment));
        Assert.Equal(new SettingSource<double>(0.9, "from INSPECTION__Trainer__RecallTarget"), Resolve(null, set, new() { ["INSPECTION__Trainer__RecallTarget"] = "0.9" }));
        Assert.Equal(new SettingSource<double>(0.99, $"default; Trainer:RecallTarget is not set in {unset}"), Resolve(null, unset, noEnvironment));
    }

    private static SettingSource<double> Resolve(double? given, string path, Dictionary<string, string?> environment)
    {
        var configuration = ConfigLoader.Build(path, environment);
        return RetrainAll.Resolve(given, "--recall-target", configuration, "Trainer:RecallTarget", ConfigLoader.Bind(configuration).Trainer.RecallTarget, path);
    }

    private string WriteConfig(string json)
    {
        var path = _dir.Combine($"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string WriteScenes(string directory, int count)
    {
        AerialScenes.WriteDataset(directory, count, size: 64, seed: 3);
        return directory;
    }
}
