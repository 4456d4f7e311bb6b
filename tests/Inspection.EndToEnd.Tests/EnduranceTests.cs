using System.Diagnostics;
using Inspection.Config.Models;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.TestSupport;
using Inspection.Trainer.Models;
using TorchSharp;
using Xunit.Abstractions;

namespace Inspection.EndToEnd.Tests;

/// <summary>The daemon held under load while things go wrong around it, each run ending with every result accounted
/// for: at the broker (seq 1..N, no gap), in the outbox, or counted as dropped by policy.</summary>
public sealed class EnduranceTests(ITestOutputHelper output)
{
    private const string Root = DaemonUnderTest.Root;
    private const string FastCamera = "synthetic://?width=160&height=120&fps=30&defect_rate=0.3&seed=9";

    [Fact]
    public async Task Broker_killed_and_restarted_four_times_under_load_loses_no_result()
    {
        await using var rig = await EnduranceRig.CreateAsync("e2e-broker-flap", FastCamera);
        await rig.Daemon.StartAsync();
        await rig.WaitForMoreResultsAsync(10);
        var deepestOutbox = 0;
        for (var cycle = 0; cycle < 4; cycle++)
        {
            await rig.Broker.StopAsync();
            var down = Stopwatch.StartNew();
            while (down.Elapsed < TimeSpan.FromSeconds(1.5))
            {
                deepestOutbox = Math.Max(deepestOutbox, rig.Outbox.Count);
                await Task.Delay(50);
            }

            await rig.Broker.StartAsync();
            await rig.WaitForMoreResultsAsync(10);
        }

        await rig.WaitForOutboxDrainedAsync();
        var account = await rig.StopAndAccountAsync();
        output.WriteLine($"{account with { SeqsAtBroker = new HashSet<long>() }}, deepest outbox {deepestOutbox}");
        Assert.True(deepestOutbox > 0, "results were produced while the broker was away, so the outbox must have held some");
        Assert.Equal(0, account.InOutbox);
        account.AssertNothingLost("broker restarts");
    }

    [Fact]
    public async Task A_burst_of_malformed_messages_gets_error_replies_and_the_camera_keeps_publishing()
    {
        await using var rig = await EnduranceRig.CreateAsync("e2e-malformed", FastCamera);
        await rig.Daemon.StartAsync();
        await using var probe = await MqttProbe.ConnectAsync(rig.Broker.Port, $"{Root}/cmd/reply");
        await rig.WaitForMoreResultsAsync(5);
        string[] bad =
        [
            "{not json", "[1,2]", "null", "\"text\"", "{\"camera\":\"cam1\"}", "{\"part_id\":\"p\",\"image_path\":\"/etc/passwd\"}",
            "{\"part_id\":\"p\",\"camera\":\"nope\"}", "{\"part_id\":\"p\",\"image_path\":\"relative/x.png\"}", new string('x', 5000), "\u0000\u00ff\u0001",
        ];
        (string Topic, string Payload)[] commands =
            [("cmd/threshold", "{\"value\":\"high\"}"), ("cmd/threshold", "{bad"), ("cmd/pause", "{bad"), ("cmd/explode", "{}")];
        var sent = 0;
        for (var round = 0; round < 15; round++)
        {
            foreach (var junk in bad)
            {
                await probe.PublishAsync($"{Root}/inspect", junk);
                sent++;
            }

            var (topic, payload) = commands[round % commands.Length];
            await probe.PublishAsync($"{Root}/{topic}", payload);
            sent++;
        }

        var replies = await probe.WaitForAsync($"{Root}/cmd/reply", count: sent, seconds: 60);
        Assert.All(replies, r => Assert.False(MqttProbe.Json(r).GetProperty("ok").GetBoolean()));
        await rig.WaitForMoreResultsAsync(20);
        var account = await rig.StopAndAccountAsync();
        output.WriteLine($"{sent} malformed messages, {replies.Count} error replies; {account with { SeqsAtBroker = new HashSet<long>() }}");
        account.AssertNothingLost("malformed burst");
    }

    [Fact]
    public async Task Hot_swaps_under_load_switch_versions_in_seq_order_without_losing_a_frame()
    {
        await using var rig = await EnduranceRig.CreateAsync("e2e-swap-load", FastCamera);
        var retrained = TrainerPackages.WriteClassifiers(rig.Daemon.ModelsDir, 2, 3, 4);
        await rig.Daemon.StartAsync();
        await using var probe = await MqttProbe.ConnectAsync(rig.Broker.Port, $"{Root}/cmd/reply");
        await rig.WaitForMoreResultsAsync(10);
        for (var version = 2; version <= 4; version++)
        {
            ModelPackage.MakeCurrent(rig.Daemon.ModelsDir, ModelTasks.Classifier, retrained[version - 2]);
            var tag = $"c{version}";
            await probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("ok").GetBoolean() && r.GetProperty("message").GetString()!.Contains(tag, StringComparison.Ordinal), seconds: 60);
            await rig.WaitForMoreResultsAsync(10);
        }

        var account = await rig.StopAndAccountAsync();
        account.AssertNothingLost("hot swaps");
        var versions = rig.Broker.ReceivedJson(EnduranceRig.ResultTopic)
            .Select(r => (Seq: r.GetProperty("seq").GetInt64(), Version: r.GetProperty("models").GetProperty("classifier").GetString()!))
            .DistinctBy(r => r.Seq).OrderBy(r => r.Seq).Select(r => int.Parse(r.Version[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal([1, 2, 3, 4], versions.Distinct());
        Assert.Equal(versions.Order(), versions);
    }

    [Fact]
    public async Task Snapshot_disk_full_is_reported_while_the_pipeline_keeps_publishing()
    {
        // Every frame is a defect, so every frame asks for a snapshot; a 1 MiB tmpfs fills within seconds.
        await using var rig = await EnduranceRig.CreateAsync("e2e-disk-full", FastCamera, classifierThreshold: 1e-6);
        var snapshots = rig.Daemon.Options.Snapshots.Directory;
        Directory.CreateDirectory(snapshots);
        var mounted = TryMountTmpfs(snapshots, "1m");
        if (!mounted)
        {
            // Without the right to mount, a folder the daemon cannot create stands in for a full disk.
            File.WriteAllText(rig.Temp.Combine("not-a-folder"), "");
            rig.Daemon.Options.Snapshots.Directory = rig.Temp.Combine("not-a-folder", "snapshots");
        }

        output.WriteLine(mounted ? "snapshots on a 1 MiB tmpfs" : "mount failed: snapshots in a folder that cannot be created");
        try
        {
            await using var probe = await MqttProbe.ConnectAsync(rig.Broker.Port, $"{Root}/stats");
            await rig.Daemon.StartAsync();
            var stats = await probe.WaitForJsonAsync($"{Root}/stats", s => s.GetProperty("snapshot_errors").GetInt64() > 0, seconds: 60);
            var errorsSeen = stats.GetProperty("snapshot_errors").GetInt64();

            // Still inspecting and publishing after the disk is full.
            await rig.WaitForMoreResultsAsync(30);
            var account = await rig.StopAndAccountAsync();
            output.WriteLine($"stats reported {errorsSeen} snapshot errors; {account with { SeqsAtBroker = new HashSet<long>() }}");
            Assert.True(account.SnapshotErrors >= errorsSeen);
            account.AssertNothingLost("snapshot disk full");
        }
        finally
        {
            if (mounted)
            {
                Tools.Run("umount", "-l", snapshots);
            }
        }
    }

    [RequiresToolFact("ffmpeg", "rtsp-server-perl")]
    public async Task Rtsp_stream_that_flaps_is_reconnected_each_time_and_no_result_is_lost()
    {
        using var clips = new TempDirectory("e2e-rtsp-clip");
        // 25 fps with a keyframe every 5 frames, so a new session has a picture within 0.2 s.
        var clip = Tools.MakeVideo(clips.Combine("clip.mp4"), 160, 120, frames: 100, codecArgs: "-c:v libx264 -pix_fmt yuv420p -g 5");
        using var server = new RtspServer(clip);
        // Short ffmpeg timeouts (and the rig's 2 s stall timeout) so a lost stream is noticed within seconds; frequent
        // stats so the reconnecting state shows in them.
        await using var rig = await EnduranceRig.CreateAsync("e2e-rtsp-flap", $"{server.Url}?transport=udp&open_timeout_ms=3000&read_timeout_ms=1500",
            configure: o => o.Mqtt.StatsInterval = TimeSpan.FromMilliseconds(200));
        await rig.Daemon.StartAsync();
        await rig.WaitForMoreResultsAsync(10, seconds: 60);
        var clock = Stopwatch.StartNew();
        for (var cycle = 1; cycle <= 4; cycle++)
        {
            var seen = rig.CameraStats().Count;
            var reconnects = rig.CameraStats()[^1].GetProperty("reconnects").GetInt64();

            server.Kill();
            var lost = await rig.WaitForCameraStatsAsync(seen, c => c.GetProperty("state").GetString() is "reconnecting" or "stalled", "the stream lost");
            server.Start();
            var back = await rig.WaitForCameraStatsAsync(seen,
                c => c.GetProperty("state").GetString() == "connected" && c.GetProperty("reconnects").GetInt64() > reconnects, "connected again", seconds: 60);
            await rig.WaitForMoreResultsAsync(10);
            output.WriteLine($"cycle {cycle}: {lost.GetProperty("state")} ({lost.GetProperty("last_error")}), then connected after " +
                $"{back.GetProperty("reconnects").GetInt64() - reconnects} reconnect attempt(s); {rig.ResultsAtBroker} results at the broker after {clock.Elapsed.TotalSeconds:F1} s");
        }

        var account = await rig.StopAndAccountAsync();
        output.WriteLine($"{account with { SeqsAtBroker = new HashSet<long>() }}");
        account.AssertNothingLost("RTSP flaps");
    }

    private static bool TryMountTmpfs(string path, string size)
    {
        try
        {
            Tools.Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", path);
            return true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
