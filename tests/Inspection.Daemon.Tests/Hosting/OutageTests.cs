using System.Globalization;
using System.Text;
using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Tests.Deployment;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.Hosting;

/// <summary>The <c>inspectiond run</c> process through long broker outages, a SIGTERM in the middle of a replay and
/// SIGKILLs at random moments, against a real Mosquitto that keeps a persistent subscriber's session. The backlog of an
/// earlier long outage (10 minutes at 30 fps) is laid down in the outbox the way a daemon before the self-checking format
/// left it, so the same test runs against an older build too (<c>INSPECTIOND_DLL</c>).</summary>
public sealed class OutageTests
{
    private const string Root = DaemonUnderTest.Root;
    private const int Backlog = 18_000;

    // The test run's outage; `INSPECTION_OUTAGE_SECONDS=60 dotnet test --filter OutageTests` is the issue's full figure.
    private static readonly int OutageSeconds = int.TryParse(Environment.GetEnvironmentVariable("INSPECTION_OUTAGE_SECONDS"), CultureInfo.InvariantCulture, out var s) ? s : 15;

    [RequiresToolFact("mosquitto", "kill")]
    public async Task A_long_outage_keeps_the_watchdog_fed_live_results_flow_during_the_replay_and_every_seq_arrives()
    {
        using var temp = new TempDirectory("daemon-outage");
        using var broker = new Mosquitto(temp, Mosquitto.Persistent(temp));
        await using var subscriber = await MqttProbe.ConnectAsync(broker.Port, "inspection/#", "subscriber", persistent: true);
        var daemon = Daemon(temp, broker.Port, fps: 30);
        daemon.Options.Pipeline.ResultQueueCapacity = 16;
        LayDownBacklog(daemon);
        using var systemd = new NotifySocketListener(temp.Combine("notify"));
        var notices = Collect(systemd);

        broker.Terminate();
        using var process = DaemonProcess.Start(ProcessTests.WriteConfig(daemon), new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = systemd.NotifySocket,
            ["WATCHDOG_USEC"] = "2000000",
        }, DaemonBuild);
        var output = ProcessTests.CollectOutput(process);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(OutageSeconds));
            broker.Start();
            await subscriber.ReconnectAsync();

            await WaitUntilAsync(() => subscriber.On($"{Root}/old/result").Count() >= Backlog, TimeSpan.FromSeconds(180), "the whole backlog replayed", output);
            var lastOld = subscriber.Messages.ToList().FindLastIndex(m => m.Topic == $"{Root}/old/result");
            var liveBefore = subscriber.Messages.Take(lastOld).Count(m => m.Topic == $"{Root}/cam1/result");
            Assert.True(liveBefore > 0, "no live result arrived while the backlog was replayed");
            // The subscriber may trail the daemon by a minute on a loaded machine (the broker feeds it 20 messages at a time).
            await WaitUntilAsync(() => Stats(subscriber, 0) is { } stats && stats.GetProperty("outbox_depth").GetInt64() == 0, TimeSpan.FromSeconds(180), "the outbox drained", output);
        }
        finally
        {
            DaemonProcess.Terminate(process);
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "no exit after SIGTERM");
        }

        // Every seq the camera got arrived (the outage's results from the outbox, the rest live); the backlog too.
        var (cam1, duplicates) = subscriber.DistinctResults($"{Root}/cam1/result");
        var seqs = cam1.Select(r => r.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.True(seqs.Count > OutageSeconds * 15, $"only {seqs.Count} results for {OutageSeconds} s at 30 fps");
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        Assert.Equal(Backlog, subscriber.DistinctResults($"{Root}/old/result").Results.Count);

        // The watchdog was fed throughout: no gap between pings as long as WatchdogSec, no stall.
        List<(DateTime At, string Text)> seen;
        lock (notices)
        {
            seen = [.. notices];
        }

        var pings = seen.Where(n => n.Text.StartsWith("WATCHDOG=1", StringComparison.Ordinal)).Select(n => n.At).ToList();
        var longest = pings.Zip(pings.Skip(1), (a, b) => b - a).DefaultIfEmpty().Max();
        Assert.True(longest < TimeSpan.FromSeconds(2), $"watchdog silent for {longest.TotalSeconds:0.0} s (WatchdogSec=2)\n{output}");
        Assert.DoesNotContain(seen, n => n.Text.Contains("stalled", StringComparison.Ordinal));
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{output}");
        Console.WriteLine($"outage {OutageSeconds} s: {seqs.Count} cam1 results, {duplicates} duplicates; backlog {Backlog}; longest watchdog gap {longest.TotalSeconds:0.00} s; {pings.Count} pings");
    }

    [RequiresToolFact("mosquitto", "kill")]
    public async Task Sigterm_in_the_middle_of_a_replay_stops_in_time_and_the_next_start_delivers_everything()
    {
        using var temp = new TempDirectory("daemon-sigterm-replay");
        using var broker = new Mosquitto(temp, Mosquitto.Persistent(temp));
        await using var subscriber = await MqttProbe.ConnectAsync(broker.Port, "inspection/#", "subscriber", persistent: true);
        var daemon = Daemon(temp, broker.Port, fps: 30);
        daemon.Options.Pipeline.ShutdownTimeout = TimeSpan.FromSeconds(5);
        LayDownBacklog(daemon);
        var config = ProcessTests.WriteConfig(daemon);

        using (var first = DaemonProcess.Start(config, new Dictionary<string, string>(), DaemonBuild))
        {
            var output = ProcessTests.CollectOutput(first);
            await subscriber.WaitForAsync($"{Root}/old/result", count: 100, seconds: 60);
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            DaemonProcess.Terminate(first);
            Assert.True(first.WaitForExit(daemon.Options.Pipeline.ShutdownTimeout + TimeSpan.FromSeconds(3)), $"no exit within the shutdown timeout\n{output}");
            Assert.True(first.ExitCode == 0, $"exit {first.ExitCode}\n{output}");
            Assert.True(subscriber.On($"{Root}/old/result").Count() < Backlog, "the replay was over before the SIGTERM; the test needs a longer backlog");
            Console.WriteLine($"SIGTERM mid-replay: exit after {stopwatch.Elapsed.TotalSeconds:0.0} s, {subscriber.On($"{Root}/old/result").Count()} of {Backlog} replayed");
        }

        using (var second = DaemonProcess.Start(config, new Dictionary<string, string>(), DaemonBuild))
        {
            var output = ProcessTests.CollectOutput(second);
            try
            {
                await WaitUntilAsync(() => subscriber.DistinctResults($"{Root}/old/result").Results.Count >= Backlog, TimeSpan.FromSeconds(180), "the backlog delivered", output);
                await subscriber.WaitForAsync($"{Root}/cam1/result", count: subscriber.On($"{Root}/cam1/result").Count() + 3, seconds: 30);
            }
            finally
            {
                DaemonProcess.Terminate(second);
                second.WaitForExit(TimeSpan.FromSeconds(30));
            }
        }

        // Nothing lost across the SIGTERM, and the second run went on numbering where the first stopped.
        var results = subscriber.DistinctResults($"{Root}/cam1/result").Results;
        Assert.Empty(results.GroupBy(r => r.GetProperty("seq").GetInt64()).Where(g => g.Count() > 1).Select(g => g.Key));
        var seqs = results.Select(r => r.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
    }

    [RequiresToolFact("mosquitto", "kill")]
    public async Task Killed_at_random_moments_during_outbox_writes_and_compaction_the_daemon_leaves_no_seq_missing()
    {
        using var temp = new TempDirectory("daemon-sigkill");
        using var broker = new Mosquitto(temp, Mosquitto.Persistent(temp));
        await using var subscriber = await MqttProbe.ConnectAsync(broker.Port, "inspection/#", "subscriber", persistent: true);
        var daemon = Daemon(temp, broker.Port, fps: 60);
        daemon.Options.Pipeline.ResultQueueCapacity = 16;

        // A small journal is compacted (rewritten) every few results, so kills land in compactions too. (A build from before
        // the journal, INSPECTIOND_DLL, would refuse the key.)
        var config = ProcessTests.WriteConfig(daemon);
        if (DaemonBuild is null)
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config))!;
            json["Outbox"]!["JournalBytes"] = 1024;
            File.WriteAllText(config, json.ToJsonString());
        }

        var outbox = daemon.Options.Outbox.Directory;
        var random = new Random(Environment.TickCount);
        var rounds = int.TryParse(Environment.GetEnvironmentVariable("INSPECTION_KILL_ROUNDS"), CultureInfo.InvariantCulture, out var r) ? r : 6;
        var midRewrite = 0;
        var recoveredAtLastStart = "-";
        for (var round = 0; round <= rounds; round++)
        {
            // Odd rounds: the broker is away, results go to the outbox (fsync'd appends). Even rounds: it is back, the
            // outbox is replayed and emptied (rewritten). The last round stops cleanly once everything is out.
            var brokerUp = round % 2 == 0;
            if (brokerUp && round > 0)
            {
                broker.Start();
                await subscriber.ReconnectAsync();
            }
            else if (!brokerUp)
            {
                broker.Terminate();
            }

            var statsBefore = subscriber.On($"{Root}/stats").Count();
            using var process = DaemonProcess.Start(config, new Dictionary<string, string>(), DaemonBuild);
            var output = ProcessTests.CollectOutput(process);
            await WaitUntilAsync(() => FirstResultOnDisk(outbox, process.StartTime.ToUniversalTime()), TimeSpan.FromSeconds(60), "the first result", output);
            if (round < rounds)
            {
                await Task.Delay(random.Next(300, 2500));
                process.Kill();
                process.WaitForExit();

                // A temporary file left behind: the kill hit a rewrite (a compaction, a position or sequence save).
                midRewrite += Directory.EnumerateFiles(outbox, "*.tmp").Any() ? 1 : 0;
            }
            else
            {
                await WaitUntilAsync(() => Stats(subscriber, statsBefore) is { } stats && stats.GetProperty("outbox_depth").GetInt64() == 0 && stats.GetProperty("published").GetInt64() > 10,
                    TimeSpan.FromSeconds(120), "the outbox drained", output);
                recoveredAtLastStart = Stats(subscriber, statsBefore) is { } last && last.TryGetProperty("journal_recovered", out var n) ? n.ToString() : "-";
                DaemonProcess.Terminate(process);
                process.WaitForExit(TimeSpan.FromSeconds(30));
            }
        }

        // Let the broker hand over what it still queues for the subscriber.
        for (var count = -1; count != subscriber.Messages.Count;)
        {
            count = subscriber.Messages.Count;
            await Task.Delay(1000);
        }

        // Every number issued arrived: from 1 to the highest, none missing and none given to two results. Duplicates
        // (a result sent again because the kill came before its acknowledgement was recorded) are allowed and counted.
        var (results, duplicates) = subscriber.DistinctResults($"{Root}/cam1/result");
        var reused = results.GroupBy(x => x.GetProperty("seq").GetInt64()).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(reused.Count == 0, $"seq issued twice after a crash: {string.Join(", ", reused.Take(20))}");
        var seqs = results.Select(x => x.GetProperty("seq").GetInt64()).ToHashSet();
        var missing = Enumerable.Range(1, (int)seqs.Max()).Select(i => (long)i).Where(i => !seqs.Contains(i)).ToList();
        var summary = $"{rounds} kills ({midRewrite} in the middle of a rewrite): {seqs.Count} results, {missing.Count} seq missing, {duplicates} duplicates; the last start recovered {recoveredAtLastStart} from the journal";
        Console.WriteLine(summary);
        Assert.True(missing.Count == 0, $"{summary}; missing: {Ranges(missing)}");
    }

    // The first result of this run is on disk: in the result journal (a record after its 16-byte header), or, for a
    // build from before the journal, in the seq reservation it writes with its first result.
    private static bool FirstResultOnDisk(string outbox, DateTime started)
    {
        var journal = new FileInfo(Path.Combine(outbox, "journal.dat"));
        var sequence = new FileInfo(Path.Combine(outbox, "sequence"));
        return journal.Exists ? journal.LastWriteTimeUtc > started && journal.Length > 16 : sequence.Exists && sequence.LastWriteTimeUtc > started;
    }

    // "3-5, 9, 12-40" for a sorted list of numbers.
    private static string Ranges(List<long> numbers) => string.Join(", ", numbers
        .Select((n, i) => (n, key: n - i)).GroupBy(x => x.key).Select(g => g.First().n == g.Last().n ? $"{g.First().n}" : $"{g.First().n}-{g.Last().n}"));

    // An older build to reproduce the faults with (INSPECTIOND_DLL=/path/to/inspectiond.dll); this build by default.
    private static string? DaemonBuild => Environment.GetEnvironmentVariable("INSPECTIOND_DLL");

    private static DaemonUnderTest Daemon(TempDirectory temp, int port, int fps)
    {
        var daemon = new DaemonUnderTest(temp, port, new CameraOptions { Id = "cam1", Source = $"synthetic://?width=64&height=64&fps={fps}&defect_rate=0.2&seed=3" });
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        return daemon;
    }

    // The backlog as the line-format outbox left it ("camera TAB defect TAB json" lines); the daemon carries it over.
    private static void LayDownBacklog(DaemonUnderTest daemon)
    {
        Directory.CreateDirectory(daemon.Options.Outbox.Directory);
        var lines = new StringBuilder();
        for (var i = 1; i <= Backlog; i++)
        {
            lines.Append(CultureInfo.InvariantCulture, $"old\t0\t{{\"id\":\"old-{i}\",\"device\":\"{DaemonUnderTest.Device}\",\"camera\":\"old\",\"seq\":{i}}}\n");
        }

        File.WriteAllText(Path.Combine(daemon.Options.Outbox.Directory, "outbox.log"), lines.ToString());
    }

    // The latest stats message of the running daemon (after the first `skip`, which earlier runs sent).
    private static JsonElement? Stats(MqttProbe subscriber, int skip) =>
        subscriber.On($"{Root}/stats").Skip(skip).LastOrDefault() is { } last ? MqttProbe.Json(last) : null;

    private static List<(DateTime At, string Text)> Collect(NotifySocketListener systemd)
    {
        var notices = new List<(DateTime, string)>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var text = await systemd.ReceiveAsync(TimeSpan.FromMinutes(10));
                lock (notices)
                {
                    notices.Add((DateTime.UtcNow, text));
                }
            }
        });
        return notices;
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, StringBuilder output)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                var text = Text(output);
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting for: {what}\n{text[Math.Max(0, text.Length - 4000)..]}");
            }

            await Task.Delay(100);
        }
    }
}
