using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.EndToEnd.Tests.Fixtures;

/// <summary>Where every result of a run went, read after the daemon stopped (capture stopped, queue inspected,
/// publisher drained to the broker or the outbox).</summary>
public sealed record ResultAccount(long Inspected, long Published, int InOutbox, long OutboxDropped, long CaptureDrops, long FrameErrors, long SnapshotErrors, IReadOnlySet<long> SeqsAtBroker)
{
    /// <summary>Every inspected frame's result reached the broker, waits in the outbox, or was dropped by the outbox's
    /// size policy (counted); none is missing, and the broker holds seq 1..N with no gap.</summary>
    public void AssertNothingLost(string because)
    {
        Assert.True(Inspected > 0, $"{because}: nothing was inspected");
        Assert.Equal(0, FrameErrors);
        Assert.True(Published + InOutbox + OutboxDropped == Inspected,
            $"{because}: {Inspected} inspected but {Published} published + {InOutbox} in the outbox + {OutboxDropped} dropped by policy");
        if (InOutbox == 0 && OutboxDropped == 0)
        {
            var missing = Enumerable.Range(1, (int)Inspected).Where(s => !SeqsAtBroker.Contains(s)).ToList();
            Assert.True(missing.Count == 0, $"{because}: the broker never got seq {string.Join(", ", missing.Take(20))} of 1..{Inspected}");
        }
    }
}

/// <summary>A daemon on trainer-written packages, its broker, and the accounting at the end.</summary>
internal sealed class EnduranceRig : IAsyncDisposable
{
    public const string Camera = "cam1";

    private EnduranceRig(TempDirectory temp, TestBroker broker, DaemonUnderTest daemon)
    {
        Temp = temp;
        Broker = broker;
        Daemon = daemon;
    }

    public TempDirectory Temp { get; }

    public TestBroker Broker { get; }

    public DaemonUnderTest Daemon { get; }

    public IServiceProvider Services => Daemon.Host!.Services;

    public const string ResultTopic = $"{DaemonUnderTest.Root}/{Camera}/result";

    public CameraPipeline Pipeline => Services.GetRequiredService<CameraPipelines>().Find(Camera)!;

    public DiskOutbox Outbox => Services.GetRequiredService<DiskOutbox>();

    /// <summary>Writes packages (threshold near 0 makes every frame a defect: segmenter and snapshots run each frame),
    /// starts the broker, and configures (but does not start) the daemon on <paramref name="source"/>.</summary>
    public static async Task<EnduranceRig> CreateAsync(string name, string source, double classifierThreshold = 0.5, Action<InspectionOptions>? configure = null)
    {
        var temp = new TempDirectory(name);
        var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(temp, broker.Port, new CameraOptions { Id = Camera, Source = source, StallTimeout = TimeSpan.FromSeconds(2) });
        daemon.Options.Mqtt.MaxPayloadBytes = 4096;
        TrainerPackages.WriteBoth(daemon.ModelsDir, "1", classifierThreshold);
        configure?.Invoke(daemon.Options);
        return new EnduranceRig(temp, broker, daemon);
    }

    public long ResultsAtBroker => Broker.Received.Count(m => m.Topic == ResultTopic);

    /// <summary>Waits until the broker has <paramref name="more"/> results beyond what it had.</summary>
    public async Task WaitForMoreResultsAsync(int more, double seconds = 30)
    {
        var target = ResultsAtBroker + more;
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (ResultsAtBroker < target)
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited {seconds} s for {more} more results; the broker has {ResultsAtBroker}");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until the outbox is empty: the backlog is replayed beside live results, a little per window, so it
    /// drains some time after the broker is back (longer on a loaded machine).</summary>
    public async Task WaitForOutboxDrainedAsync(double seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (Outbox.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited {seconds} s for the outbox to drain; it still holds {Outbox.Count}");
            await Task.Delay(50);
        }
    }

    /// <summary>This camera's entries in the <c>stats</c> messages the broker got, oldest first.</summary>
    public IReadOnlyList<JsonElement> CameraStats() =>
        [.. Broker.ReceivedJson($"{DaemonUnderTest.Root}/stats").Select(s => s.GetProperty("cameras").GetProperty(Camera))];

    /// <summary>Waits for a <c>stats</c> message, after the first <paramref name="after"/>, whose camera entry matches.</summary>
    public async Task<JsonElement> WaitForCameraStatsAsync(int after, Func<JsonElement, bool> match, string what, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var stats = CameraStats();
            if (stats.Skip(after).FirstOrDefault(match) is { ValueKind: JsonValueKind.Object } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"waited {seconds} s for stats showing {what}; the last: {(stats.Count == 0 ? null : stats[^1])}");
            await Task.Delay(50);
        }
    }

    /// <summary>Stops the daemon (it drains as at a SIGTERM) and reads where every result went.</summary>
    public async Task<ResultAccount> StopAndAccountAsync()
    {
        var pipeline = Pipeline;
        var publisher = Services.GetRequiredService<ResultPublisher>();
        var outbox = Outbox;
        var snapshots = Services.GetRequiredService<SnapshotWriter>();
        await Daemon.Host!.StopAsync();
        var seqs = Broker.Received.Where(m => m.Topic == ResultTopic)
            .Select(m => JsonDocument.Parse(m.Payload).RootElement.GetProperty("seq").GetInt64()).ToHashSet();
        var account = new ResultAccount(pipeline.Inspected, publisher.Published, outbox.Count, outbox.Dropped,
            pipeline.CaptureStats.FramesDropped, pipeline.Errors, snapshots.Errors, seqs);
        await Daemon.StopAsync();
        return account;
    }

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        await Broker.DisposeAsync();
        Temp.Dispose();
    }
}
