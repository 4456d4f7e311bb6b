using System.Text.Json;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Xunit.Abstractions;

namespace Inspection.Trainer.Tests.Training;

/// <summary><c>trainer classify</c> as a user runs it: machine-readable progress and the optimizer choice.</summary>
public sealed class ClassifierCliTests(ITestOutputHelper output)
{
    [Fact]
    public void Json_progress_is_one_object_per_line_with_epoch_loss_validation_and_eta_and_sgd_is_used_when_asked()
    {
        using var dir = new TempDirectory("classify-json");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 24, size: 32, seed: 5);

        var (code, stdout, stderr) = TrainerProcess.Run("classify", "--data", data, "--out", dir.Combine("models"), "--arch", "resnet", "--width", "0.25",
            "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--optimizer", "sgd", "--lr", "0.01", "--patience", "0", "--recall-target", "0.9",
            "--init", "scratch", "--threads", "2", "--json");
        output.WriteLine(stdout);
        output.WriteLine(stderr);

        Assert.True(code is 0 or 2, $"exit {code}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(lines, l => Assert.Equal(JsonValueKind.Object, l.ValueKind));
        var events = lines.GroupBy(l => l.GetProperty("event").GetString()!).ToDictionary(g => g.Key, g => g.ToList());

        // The optimizer line names the optimizer object training actually built.
        Assert.Contains(events["message"], m => m.GetProperty("text").GetString()!.StartsWith("optimizer: SGD, peak lr 0.01, cosine schedule, momentum 0.9 (Nesterov)", StringComparison.Ordinal));

        var steps = events["step"];
        Assert.All(steps, s => Assert.True(s.GetProperty("loss").GetDouble() > 0));
        Assert.Equal([1, 2], steps.Select(s => s.GetProperty("epoch").GetInt32()).Distinct());

        var epochs = events["epoch"];
        Assert.Equal(2, epochs.Count);
        foreach (var epoch in epochs)
        {
            var record = epoch.GetProperty("record");
            Assert.True(double.IsFinite(record.GetProperty("train_loss").GetDouble()));
            Assert.InRange(record.GetProperty("validation_recall").GetDouble(), 0, 1);
            Assert.InRange(record.GetProperty("validation_precision").GetDouble(), 0, 1);
        }

        // ETA: time left after the first epoch, none after the last.
        Assert.True(epochs[0].GetProperty("eta_seconds").GetDouble() > 0);
        Assert.Equal(0, epochs[1].GetProperty("eta_seconds").GetDouble());
        var result = Assert.Single(events["result"]);
        Assert.Equal(ModelTasks.Classifier, ModelPackage.Open(result.GetProperty("package").GetString()!).Manifest.Task);
    }

    [Fact]
    public void An_unknown_optimizer_is_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory("classify-optimizer");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 4, size: 32);

        var (code, _, stderr) = TrainerProcess.Run("classify", "--data", data, "--out", dir.Combine("models"), "--optimizer", "rmsprop");

        Assert.Equal(1, code);
        Assert.Contains("--optimizer must be adam, adamw or sgd (got 'rmsprop')", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("models")));
    }
}
