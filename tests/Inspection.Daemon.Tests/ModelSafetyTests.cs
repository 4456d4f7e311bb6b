using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>A broken <c>current</c> at start, and per-camera thresholds across a model change.</summary>
public sealed class ModelSafetyTests() : BrokerTestBase("daemon-safety")
{
    private const string Root = DaemonUnderTest.Root;

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TestOwnership.JsonEnumerator)]
    public async Task A_broken_current_at_start_falls_back_to_the_newest_usable_package_and_says_so_on_the_models_topic()
    {
        await using var daemon = new DaemonUnderTest(Temp, Broker.Port);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");

        // Newer than v1 but refused by the trainer's gate: no fallback. Newest of all, and current: fails at warm-up.
        var refused = TinyOnnx.WritePackage(daemon.ModelsDir, ModelTasks.Classifier, "v2-refused", 0.5);
        var manifestPath = Path.Combine(refused, ModelPackage.ManifestFile);
        (ModelManifest.Load(manifestPath) with { Gate = new GateRecord { Passed = false, Reason = "test AUROC 0.55 is below the floor 0.75" } }).Save(manifestPath);
        var broken = TinyOnnx.WritePackage(daemon.ModelsDir, ModelTasks.Classifier, "v3", 0.5, onnxBytes: TinyOnnx.FailsAtRun(TinyOnnx.Size));
        File.SetLastWriteTimeUtc(Path.Combine(daemon.ModelsDir, ModelTasks.Classifier, "v1", ModelPackage.ManifestFile), DateTime.UtcNow.AddMinutes(-2));
        File.SetLastWriteTimeUtc(manifestPath, DateTime.UtcNow.AddMinutes(-1));
        TinyOnnx.MakeCurrent(daemon.ModelsDir, broken);

        await daemon.StartAsync();

        var models = await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("classifier").GetProperty("version").GetString() is not null);
        Assert.Equal("v1", models.GetProperty("classifier").GetProperty("version").GetString());
        Assert.Equal("v1", models.GetProperty("segmenter").GetProperty("version").GetString());
        var fallback = Assert.Single(models.GetProperty("fallback").EnumerateArray()).GetString();
        Assert.Contains("classifier: current", fallback, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("classifier", "v3"), fallback, StringComparison.Ordinal);
        Assert.Contains("ONNX Runtime failed running the model", fallback, StringComparison.Ordinal);
        Assert.Contains("newest usable package v1", fallback, StringComparison.Ordinal);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TestOwnership.JsonEnumerator)]
    public async Task Threshold_overrides_are_dropped_and_reported_when_the_classifier_version_changes()
    {
        await using var daemon = new DaemonUnderTest(Temp, Broker.Port,
            new CameraOptions { Id = "cam1", Source = "synthetic://?width=64&height=64&fps=5&seed=3", Trigger = TriggerMode.Trigger });
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        await daemon.StartAsync();
        await Probe.PublishAsync($"{Root}/cmd/threshold", "{\"camera\":\"cam1\",\"value\":0.3}");
        await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("thresholds").GetProperty("cam1").GetDouble() == 0.3);

        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v2", classifierThreshold: 0.6);

        var models = await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("classifier").GetProperty("version").GetString() == "v2");
        Assert.Empty(models.GetProperty("threshold_overrides").EnumerateObject());
        Assert.Equal(0.6, models.GetProperty("thresholds").GetProperty("cam1").GetDouble());
        var dropped = models.GetProperty("threshold_overrides_dropped");
        Assert.Equal(("v1", "v2", 0.3), (dropped.GetProperty("from_version").GetString(), dropped.GetProperty("to_version").GetString(), dropped.GetProperty("thresholds").GetProperty("cam1").GetDouble()));
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "after-v2", camera = "cam1" }));
        var result = await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "after-v2");
        Assert.Equal(0.6, result.GetProperty("threshold").GetDouble());
    }
}
