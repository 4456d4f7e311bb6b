using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Outbox;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inspection.Daemon.Tests;

/// <summary>Cameras to results: synthetic and ffmpeg-made sources, commands that act on a camera, a broker outage and a
/// daemon restart in the middle of a stream, and a dead camera next to a live one.</summary>
public sealed class CameraPipelineTests() : BrokerTestBase("daemon-cameras")
{
    private const string Root = DaemonUnderTest.Root;
    private static readonly string[] ContractFields =
        ["id", "device", "camera", "seq", "frame_seq", "part_id", "captured_at", "defect", "score", "threshold", "models", "segmentation", "latency_ms"];


    private static CameraOptions Synthetic(string id, double fps = 20, TriggerMode trigger = TriggerMode.Stream) =>
        new() { Id = id, Source = $"synthetic://?width=96&height=64&fps={fps}&defect_rate=0.5&seed=3", Trigger = trigger };

    [Fact]
    public async Task Synthetic_frames_become_numbered_results_with_the_contract_fields_and_stats_report_the_camera()
    {
        await using var daemon = await StartDaemonAsync(Synthetic("cam1"));
        var results = (await Probe.WaitForAsync($"{Root}/cam1/result", count: 10)).Select(MqttProbe.Json).Take(10).ToList();
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

        var stats = await Probe.WaitForJsonAsync($"{Root}/stats", s => s.GetProperty("cameras").GetProperty("cam1").GetProperty("inspected").GetInt64() > 0);
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
        await Probe.WaitForAsync($"{Root}/cam1/result");

        // cam2 is triggered: no results of its own, but a request inspects its freshest frame.
        await Task.Delay(500);
        await Probe.PublishAsync($"{Root}/inspect", "{\"part_id\":\"P-1\",\"camera\":\"cam2\"}", responseTopic: $"{Root}/replies/p1", correlation: [7]);
        var answer = (await Probe.WaitForAsync($"{Root}/replies/p1")).Single();
        Assert.Equal(new byte[] { 7 }, answer.CorrelationData);
        var result = MqttProbe.Json(answer);
        Assert.Equal("cam2", result.GetProperty("camera").GetString());
        Assert.Equal("P-1", result.GetProperty("part_id").GetString());
        Assert.True(result.GetProperty("frame_seq").GetInt64() > 0);
        Assert.Equal(1, result.GetProperty("seq").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, result.GetProperty("segmentation").ValueKind);

        // Per-camera threshold: cam1's results carry the new value, cam2's stays the manifest's; both in `models`.
        await Probe.PublishAsync($"{Root}/cmd/threshold", "{\"camera\":\"cam1\",\"value\":0.25}");
        await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "threshold" && r.GetProperty("ok").GetBoolean());
        await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("threshold").GetDouble() == 0.25);
        var models = await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("thresholds").GetProperty("cam1").GetDouble() == 0.25);
        Assert.Equal(0.5, models.GetProperty("thresholds").GetProperty("cam2").GetDouble());

        // Pause stops cam1's results; resume brings them back with seq carrying on without a gap.
        await Probe.PublishAsync($"{Root}/cmd/pause", "{\"camera\":\"cam1\"}");
        await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "pause");
        await Task.Delay(300);
        var before = Probe.On($"{Root}/cam1/result").Count();
        var handledWhilePaused = Handled(daemon);
        await Task.Delay(1000);
        Assert.Equal(before, Probe.On($"{Root}/cam1/result").Count());

        // Paused, cam1's frames are still taken off its queue (skipped): the watchdog sees them handled, not a stall.
        Assert.True(Handled(daemon) > handledWhilePaused, "the paused camera's frames did not count as handled");
        await Probe.PublishAsync($"{Root}/cmd/resume", "");
        await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "resume");
        await Probe.WaitForAsync($"{Root}/cam1/result", count: before + 3);
        var seqs = Probe.On($"{Root}/cam1/result").Select(m => MqttProbe.Json(m).GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.DoesNotContain(Probe.On($"{Root}/cam2/result"), m => MqttProbe.Json(m).GetProperty("part_id").ValueKind == JsonValueKind.Null);
    }

    // Frames and result windows handled so far, from the watchdog's STATUS line ("…; N done, last …").
    private static long Handled(DaemonUnderTest daemon)
    {
        var report = daemon.Host!.Services.GetRequiredService<PipelineHealth>().Check(TimeSpan.FromMinutes(1));
        Assert.True(report.Healthy, report.Summary);
        return long.Parse(Regex.Match(report.Summary, @"; (\d+) done").Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_broker_outage_and_a_daemon_restart_lose_no_result_and_seq_goes_on()
    {
        var daemon = await StartDaemonAsync(Synthetic("cam1"));
        try
        {
            await Broker.WaitForAsync($"{Root}/cam1/result", 5);
            await Broker.StopAsync();
            await Task.Delay(1500);
            await Broker.StartAsync();
            await WaitUntilAsync(() => Broker.Received.Count(m => m.Topic == $"{Root}/status") >= 2);

            // Broker away again, and the daemon stops meanwhile: what is left waits in the outbox for the next run.
            await Task.Delay(500);
            await Broker.StopAsync();
            await Task.Delay(800);
        }
        finally
        {
            await daemon.StopAsync();
        }

        var firstRunSeqs = LastSeq(daemon, out var inOutbox);
        Assert.True(inOutbox > 0, "the outbox should hold results made while the broker was away");

        await Broker.StartAsync();
        daemon = new DaemonUnderTest(Temp, Broker.Port, Synthetic("cam1"));
        await daemon.StartAsync();
        try
        {
            // The second run goes on numbering after the first (a clean stop: no jump); its backlog goes out beside it.
            await WaitUntilAsync(() => Broker.ReceivedJson($"{Root}/cam1/result").Select(r => r.GetProperty("seq").GetInt64()).Distinct().Count() >= firstRunSeqs + 3);
        }
        finally
        {
            await daemon.StopAsync();
        }

        // Nothing lost: every seq of both runs reached the broker or still waits in the outbox for the next start (a
        // slow replay can leave part of the backlog there when the second run stops).
        var delivered = Broker.ReceivedJson($"{Root}/cam1/result").DistinctBy(r => r.GetProperty("id").GetString())
            .Select(r => r.GetProperty("seq").GetInt64());
        var seqs = delivered.Concat(StoredSeqs(daemon)).Distinct().Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.True(seqs.Count >= firstRunSeqs + 3);
    }

    private static List<long> StoredSeqs(DaemonUnderTest daemon)
    {
        using var outbox = new DiskOutbox(daemon.Options.Outbox, NullLogger<DiskOutbox>.Instance);
        return outbox.Peek(int.MaxValue).Select(p => JsonDocument.Parse(p.Entry.Payload).RootElement.GetProperty("seq").GetInt64()).ToList();
    }

    private long LastSeq(DaemonUnderTest daemon, out int inOutbox)
    {
        // Results the first run made: those that reached the broker plus those left in its outbox.
        var stored = StoredSeqs(daemon);
        inOutbox = stored.Count;
        var sent = Broker.ReceivedJson($"{Root}/cam1/result").Select(r => r.GetProperty("seq").GetInt64());
        return sent.Concat(stored).Max();
    }

    private async Task<DaemonUnderTest> StartDaemonAsync(params CameraOptions[] cameras)
    {
        var daemon = new DaemonUnderTest(Temp, Broker.Port, cameras);
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
