using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Tests.Fixtures;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>Cameras to results: synthetic and ffmpeg-made sources, commands that act on a camera, a broker outage and a
/// daemon restart in the middle of a stream, and a dead camera next to a live one.</summary>
public sealed class CameraPipelineTests : IAsyncLifetime
{
    private const string Root = DaemonUnderTest.Root;
    private static readonly string[] ContractFields =
        ["id", "device", "camera", "seq", "frame_seq", "part_id", "captured_at", "defect", "score", "threshold", "models", "segmentation", "latency_ms"];

    private readonly TempDirectory _temp = new("daemon-cameras");
    private TestBroker _broker = null!;
    private MqttProbe _probe = null!;

    public async Task InitializeAsync()
    {
        _broker = new TestBroker();
        await _broker.StartAsync();
        _probe = await MqttProbe.ConnectAsync(_broker.Port);
    }

    public async Task DisposeAsync()
    {
        await _probe.DisposeAsync();
        await _broker.DisposeAsync();
        _temp.Dispose();
    }

    private static CameraOptions Synthetic(string id, double fps = 20, TriggerMode trigger = TriggerMode.Stream) =>
        new() { Id = id, Source = $"synthetic://?width=96&height=64&fps={fps}&defect_rate=0.5&seed=3", Trigger = trigger };

    [Fact]
    public async Task Synthetic_frames_become_numbered_results_with_the_contract_fields_and_stats_report_the_camera()
    {
        await using var daemon = await StartDaemonAsync(Synthetic("cam1"));
        var results = (await _probe.WaitForAsync($"{Root}/cam1/result", count: 10)).Select(MqttProbe.Json).Take(10).ToList();
        foreach (var field in ContractFields)
        {
            Assert.True(results[0].TryGetProperty(field, out _), $"result lacks '{field}': {results[0]}");
        }

        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), results.Select(r => r.GetProperty("seq").GetInt64()));
        var frames = results.Select(r => r.GetProperty("frame_seq").GetInt64()).ToList();
        Assert.Equal(frames.Order(), frames);
        Assert.All(results, r => Assert.Equal(JsonValueKind.Null, r.GetProperty("part_id").ValueKind));
        Assert.All(results, r => Assert.EndsWith("Z", r.GetProperty("captured_at").GetString(), StringComparison.Ordinal));
        Assert.All(results, r => Assert.True(r.GetProperty("latency_ms").GetProperty("total").GetDouble() > 0));

        var stats = await _probe.WaitForJsonAsync($"{Root}/stats", s => s.GetProperty("cameras").GetProperty("cam1").GetProperty("inspected").GetInt64() > 0);
        var cam = stats.GetProperty("cameras").GetProperty("cam1");
        Assert.True(cam.GetProperty("fps").GetDouble() > 0);
        Assert.True(cam.TryGetProperty("frames_dropped", out _));
        Assert.True(cam.TryGetProperty("queue_depth", out _));
        Assert.True(cam.GetProperty("latency_ms").GetProperty("classify").GetProperty("p99").GetDouble() > 0);
        Assert.Equal("cpu", stats.GetProperty("provider").GetString());
        Assert.Equal(0, stats.GetProperty("outbox_depth").GetInt32());
    }

    [Fact]
    public async Task Inspect_request_takes_the_freshest_frame_and_commands_act_on_the_named_camera()
    {
        await using var daemon = await StartDaemonAsync(Synthetic("cam1"), Synthetic("cam2", fps: 10, TriggerMode.Trigger));
        await _probe.WaitForAsync($"{Root}/cam1/result");

        // cam2 is triggered: no results of its own, but a request inspects its freshest frame.
        await Task.Delay(500);
        await _probe.PublishAsync($"{Root}/inspect", "{\"part_id\":\"P-1\",\"camera\":\"cam2\"}", responseTopic: "answers/p1", correlation: [7]);
        var answer = (await _probe.WaitForAsync("answers/p1")).Single();
        Assert.Equal(new byte[] { 7 }, answer.CorrelationData);
        var result = MqttProbe.Json(answer);
        Assert.Equal("cam2", result.GetProperty("camera").GetString());
        Assert.Equal("P-1", result.GetProperty("part_id").GetString());
        Assert.True(result.GetProperty("frame_seq").GetInt64() > 0);
        Assert.Equal(1, result.GetProperty("seq").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, result.GetProperty("segmentation").ValueKind);

        // Per-camera threshold: cam1's results carry the new value, cam2's stays the manifest's; both in `models`.
        await _probe.PublishAsync($"{Root}/cmd/threshold", "{\"camera\":\"cam1\",\"value\":0.25}");
        await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "threshold" && r.GetProperty("ok").GetBoolean());
        await _probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("threshold").GetDouble() == 0.25);
        var models = await _probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("thresholds").GetProperty("cam1").GetDouble() == 0.25);
        Assert.Equal(0.5, models.GetProperty("thresholds").GetProperty("cam2").GetDouble());

        // Pause stops cam1's results; resume brings them back with seq carrying on without a gap.
        await _probe.PublishAsync($"{Root}/cmd/pause", "{\"camera\":\"cam1\"}");
        await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "pause");
        await Task.Delay(300);
        var before = _probe.On($"{Root}/cam1/result").Count();
        await Task.Delay(1000);
        Assert.Equal(before, _probe.On($"{Root}/cam1/result").Count());
        await _probe.PublishAsync($"{Root}/cmd/resume", "");
        await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "resume");
        await _probe.WaitForAsync($"{Root}/cam1/result", count: before + 3);
        var seqs = _probe.On($"{Root}/cam1/result").Select(m => MqttProbe.Json(m).GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.DoesNotContain(_probe.On($"{Root}/cam2/result"), m => MqttProbe.Json(m).GetProperty("part_id").ValueKind == JsonValueKind.Null);
    }

    [Fact]
    public async Task A_broker_outage_and_a_daemon_restart_lose_no_result_and_keep_the_order()
    {
        var daemon = await StartDaemonAsync(Synthetic("cam1"));
        try
        {
            await _broker.WaitForAsync($"{Root}/cam1/result", 5);
            await _broker.StopAsync();
            await Task.Delay(1500);
            await _broker.StartAsync();
            await WaitUntilAsync(() => _broker.Received.Count(m => m.Topic == $"{Root}/status") >= 2);

            // Broker away again, and the daemon stops meanwhile: what is left waits in the outbox for the next run.
            await Task.Delay(500);
            await _broker.StopAsync();
            await Task.Delay(800);
        }
        finally
        {
            await daemon.StopAsync();
        }

        var outboxLines = File.ReadAllLines(Path.Combine(daemon.Options.Outbox.Directory, "outbox.log")).Length;
        Assert.True(outboxLines > 0, "the outbox should hold results made while the broker was away");
        var firstRunSeqs = LastSeq(daemon);

        await _broker.StartAsync();
        daemon = new DaemonUnderTest(_temp, _broker.Port, Synthetic("cam1"));
        await daemon.StartAsync();
        try
        {
            // The second run starts numbering at 1 again; its results come after the first run's backlog.
            await WaitUntilAsync(() => _broker.ReceivedJson($"{Root}/cam1/result").Count(r => r.GetProperty("seq").GetInt64() == 3) >= 2);
        }
        finally
        {
            await daemon.StopAsync();
        }

        var delivered = _broker.ReceivedJson($"{Root}/cam1/result").DistinctBy(r => r.GetProperty("id").GetString()).ToList();
        var run1 = delivered.TakeWhile((r, i) => i == 0 || r.GetProperty("seq").GetInt64() > delivered[i - 1].GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, run1.Count).Select(i => (long)i), run1.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.Equal(firstRunSeqs, run1.Count);
        var run2 = delivered.Skip(run1.Count).Select(r => r.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, run2.Count).Select(i => (long)i), run2);
    }

    [RequiresToolFact("ffmpeg")]
    public async Task A_video_made_by_ffmpeg_is_inspected_and_a_dead_camera_beside_it_harms_only_itself()
    {
        var video = Tools.MakeVideo(_temp.Combine("line.mp4"), 96, 64, 30);
        await using var daemon = await StartDaemonAsync(
            new CameraOptions { Id = "video", Source = $"file://{video}?loop=true&realtime=true" },
            new CameraOptions { Id = "dead", Source = $"file://{_temp.Combine("missing.mp4")}" });
        var results = await _probe.WaitForAsync($"{Root}/video/result", count: 10);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), results.Take(10).Select(m => MqttProbe.Json(m).GetProperty("seq").GetInt64()));
        var stats = await _probe.WaitForJsonAsync($"{Root}/stats", s => s.GetProperty("cameras").GetProperty("video").GetProperty("inspected").GetInt64() >= 10);
        var dead = stats.GetProperty("cameras").GetProperty("dead");
        Assert.Equal(0, dead.GetProperty("inspected").GetInt64());
        Assert.NotEqual("connected", dead.GetProperty("state").GetString());
        Assert.Empty(_probe.On($"{Root}/dead/result"));
    }

    private long LastSeq(DaemonUnderTest daemon)
    {
        // Results the first run made: those that reached the broker plus those left in its outbox.
        var outbox = File.ReadAllLines(Path.Combine(daemon.Options.Outbox.Directory, "outbox.log"))
            .Select(l => JsonDocument.Parse(l[(l.IndexOf('{', StringComparison.Ordinal))..]).RootElement.GetProperty("seq").GetInt64());
        var sent = _broker.ReceivedJson($"{Root}/cam1/result").Select(r => r.GetProperty("seq").GetInt64());
        return sent.Concat(outbox).Max();
    }

    private async Task<DaemonUnderTest> StartDaemonAsync(params CameraOptions[] cameras)
    {
        var daemon = new DaemonUnderTest(_temp, _broker.Port, cameras);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        await daemon.StartAsync();
        return daemon;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 400 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), "timed out");
    }
}
