using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.Config.Models;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>New packages become current while the daemon serves: the good one is swapped in, a broken one refused.</summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = TestOwnership.AsyncLifetime)]
public sealed class HotSwapTests() : BrokerTestBase("daemon-hotswap")
{
    private const string Root = DaemonUnderTest.Root;
    private DaemonUnderTest _daemon = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _daemon = new DaemonUnderTest(Temp, Broker.Port);
        TinyOnnx.WriteCurrent(_daemon.ModelsDir, "v1");
        await _daemon.StartAsync();
        await Probe.WaitForJsonAsync($"{Root}/models", m => Version(m) == "v1");
    }

    public override async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await base.DisposeAsync();
    }

    [Fact]
    public async Task A_new_current_package_is_swapped_in_by_the_file_watch_and_a_corrupt_one_is_refused()
    {
        TinyOnnx.WriteCurrent(_daemon.ModelsDir, "v2", classifierThreshold: 0.6);
        var reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("ok").GetBoolean() && r.GetProperty("message").GetString()!.Contains("v2", StringComparison.Ordinal));
        Assert.Equal("watch", reply.GetProperty("trigger").GetString());
        var models = await Probe.WaitForJsonAsync($"{Root}/models", m => Version(m) == "v2");
        Assert.Equal(0.6, models.GetProperty("classifier").GetProperty("threshold").GetProperty("value").GetDouble());
        Assert.Equal("v2", (await InspectAsync("after-v2")).GetProperty("models").GetProperty("classifier").GetString());

        // v3: the ONNX file no longer matches the manifest's SHA-256 (a truncated copy, say).
        var broken = TinyOnnx.WritePackage(_daemon.ModelsDir, ModelTasks.Classifier, "v3", 0.5);
        File.WriteAllBytes(Path.Combine(broken, ModelPackage.OnnxFile), File.ReadAllBytes(Path.Combine(broken, ModelPackage.OnnxFile))[..40]);
        TinyOnnx.MakeCurrent(_daemon.ModelsDir, broken);
        var refusal = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => !r.GetProperty("ok").GetBoolean());
        Assert.Contains("SHA-256", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("still serving classifier v2", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        var refusedModels = await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("refused").ValueKind == JsonValueKind.Object);
        Assert.Equal("v2", Version(refusedModels));
        Assert.Equal("v2", (await InspectAsync("after-v3")).GetProperty("models").GetProperty("classifier").GetString());
    }

    [Fact]
    public async Task Reload_command_refuses_a_package_whose_input_shape_differs_from_its_manifest()
    {
        // The manifest says 32x32 but the ONNX graph takes 16x16.
        var mismatched = TinyOnnx.WritePackage(_daemon.ModelsDir, ModelTasks.Segmenter, "v4", 0.5, size: 32, onnxSize: 16);
        TinyOnnx.MakeCurrent(_daemon.ModelsDir, mismatched);
        await Probe.PublishAsync($"{Root}/cmd/reload", "", responseTopic: $"{Root}/replies/reload", correlation: [1, 2, 3]);
        var reply = (await Probe.WaitForAsync($"{Root}/replies/reload", m => MqttProbe.Json(m).GetProperty("command").GetString() == "reload")).First();
        Assert.Equal(new byte[] { 1, 2, 3 }, reply.CorrelationData);
        var error = MqttProbe.Json(reply).GetProperty("error").GetString();
        Assert.Contains("[1,1,16,16]", error, StringComparison.Ordinal);
        Assert.Contains("float[1,1,32,32]", error, StringComparison.Ordinal);
        Assert.Equal("v1", (await InspectAsync("after-v4")).GetProperty("models").GetProperty("segmenter").GetString());

        // Put a good package back and ask again: swapped.
        TinyOnnx.MakeCurrent(_daemon.ModelsDir, TinyOnnx.WritePackage(_daemon.ModelsDir, ModelTasks.Segmenter, "v5", 0.5));
        await Probe.PublishAsync($"{Root}/cmd/reload", "{}", responseTopic: $"{Root}/replies/reload2");
        var ok = MqttProbe.Json((await Probe.WaitForAsync($"{Root}/replies/reload2")).First());
        Assert.True(ok.GetProperty("ok").GetBoolean(), ok.ToString());
        Assert.Equal("v5", (await InspectAsync("after-v5")).GetProperty("models").GetProperty("segmenter").GetString());
    }

    [Fact]
    public async Task A_package_that_loads_but_fails_at_warm_up_is_refused_while_the_old_model_keeps_answering()
    {
        // Its input and output shapes match the manifest; only running it fails (an ONNX Runtime error, not I/O).
        TinyOnnx.MakeCurrent(_daemon.ModelsDir, TinyOnnx.WritePackage(_daemon.ModelsDir, ModelTasks.Classifier, "warmup-fails", 0.5, onnxBytes: TinyOnnx.FailsAtRun(TinyOnnx.Size)));

        var refusal = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => !r.GetProperty("ok").GetBoolean());
        Assert.Contains("ONNX Runtime failed running the model", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("still serving classifier v1", refusal.GetProperty("error").GetString(), StringComparison.Ordinal);
        var answer = await InspectAsync("after-warmup-failure");
        Assert.Equal("v1", answer.GetProperty("models").GetProperty("classifier").GetString());
        Assert.True(answer.GetProperty("score").GetDouble() > 0.99); // a bright image through v1: confidently a defect
    }

    private static string? Version(JsonElement models) => models.GetProperty("classifier").GetProperty("version").GetString();

    private async Task<JsonElement> InspectAsync(string partId)
    {
        var image = _daemon.WriteImage(partId + ".png", background: 240);
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = partId, image_path = image }));
        return await Probe.WaitForJsonAsync($"{Root}/file/result", r => r.GetProperty("part_id").GetString() == partId);
    }
}
