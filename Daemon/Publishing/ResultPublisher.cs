using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

/// <summary>Sends results (already in the result journal) straight to the broker while it is there, otherwise into the
/// disk outbox, and marks each window done in the journal once it is acknowledged or stored; the outbox's backlog is
/// replayed (oldest first) beside live results once the broker is back: one window of live results, then one result of
/// the backlog, so a long replay never blocks the result queue (cameras, inspect requests) or the watchdog. A result
/// leaves the outbox only after the broker's PUBACK; results also go to the defect topic when they are defects. A
/// message the broker refuses for good is moved to the dead-letter file instead of being retried forever. On stop the
/// backlog stays on disk for the next start, and queued results are sent or, past half of
/// <see cref="PipelineOptions.ShutdownTimeout"/>, stored.</summary>
internal sealed partial class ResultPublisher(ResultSink sink, DiskOutbox outbox, MqttConnection mqtt, Topics topics, ILogger<ResultPublisher> logger,
    PipelineHealth? health = null, PipelineOptions? pipeline = null, DeadLetters? deadLetters = null)
    : DaemonWorker(logger), IStatsSource
{
    private const int Window = 16;
    private const int RetryDelayMs = 500;

    // One backlog result in flight at a time. A broker with Nagle's algorithm on (Mosquitto's default, set_tcp_nodelay
    // false) holds every PUBACK after the first of a window until the client's delayed ACK (~40 ms): 18,000 results
    // replayed in 84 s with 10 in flight and in 3.6 s one at a time against Mosquitto 2.0 here (docs/reliability.md).
    private const int ReplayInFlight = 1;
    private readonly CancellationTokenSource _sendDeadline = new();
    private long _published;
    private long _replayed;

    public long Published => Interlocked.Read(ref _published);

    /// <summary>Results delivered from the outbox since start (part of <see cref="Published"/>).</summary>
    public long Replayed => Interlocked.Read(ref _replayed);

    /// <summary>Messages moved to the dead-letter file since start.</summary>
    public long DeadLettered => deadLetters?.Count ?? 0;

    /// <summary>What was delivered, what waits in the outbox (and what it lost), what was replayed from it and what was
    /// set aside as dead letters.</summary>
    public void AddStats(JsonObject stats)
    {
        stats["published"] = Published;
        stats["outbox_depth"] = outbox.Count;
        stats["outbox_bytes"] = outbox.PendingBytes;
        stats["outbox_dropped"] = outbox.Dropped;
        stats["outbox_lost"] = outbox.Lost;
        stats["outbox_corrupt"] = outbox.Corrupt;
        stats["outbox_replayed"] = Replayed;
        stats["dead_lettered"] = DeadLettered;
    }

    // The loop ends when the sink is completed (at shutdown, after capture stopped), not on the stopping token:
    // queued results must still reach the broker or the outbox.
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var shutdown = pipeline?.ShutdownTimeout ?? new PipelineOptions().ShutdownTimeout;
        using var onStop = stoppingToken.Register(() => _sendDeadline.CancelAfter(shutdown / 2));
        var reader = sink.Reader;
        var live = new List<QueuedResult>(Window);
        var stopped = Task.Delay(Timeout.Infinite, stoppingToken);
        var replayAgainAt = 0L;
        while (true)
        {
            var worked = false;
            if (TakeWindow(reader, live))
            {
                await SendOrStoreAsync([.. live.Select(q => q.Entry)]).ConfigureAwait(false);

                // Sent or kept in the outbox: either way the results left the queue (the watchdog's "progress") and
                // are done with in the journal.
                sink.Done(live);
                health?.MarkProgress();
                live.Clear();
                worked = true;
            }

            if (!stoppingToken.IsCancellationRequested && outbox.Count > 0 && mqtt.IsConnected && Environment.TickCount64 >= replayAgainAt)
            {
                if (await ReplayWindowAsync().ConfigureAwait(false) > 0)
                {
                    health?.MarkProgress();
                    worked = true;
                }
                else
                {
                    // The broker took nothing of the oldest window: try again in a while, live results go on meanwhile.
                    replayAgainAt = Environment.TickCount64 + RetryDelayMs;
                }
            }

            if (worked)
            {
                continue;
            }

            var wait = reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (outbox.Count > 0 && !stoppingToken.IsCancellationRequested && !wait.IsCompleted)
            {
                // A backlog is waiting: wake up for new results, for the broker's return, or to retry a stalled replay.
                var retry = mqtt.IsConnected ? Task.Delay(TimeSpan.FromMilliseconds(RetryDelayMs), CancellationToken.None) : mqtt.WhenConnected;
                await Task.WhenAny(wait, retry, stopped).ConfigureAwait(false);
                replayAgainAt = 0;
                continue;
            }

            if (!await wait.ConfigureAwait(false))
            {
                break;
            }
        }

        LogDrained(Logger, Published, outbox.Count);
    }

    private bool TakeWindow(System.Threading.Channels.ChannelReader<QueuedResult> reader, List<QueuedResult> window)
    {
        while (window.Count < Room() && reader.TryRead(out var entry))
        {
            window.Add(entry);
        }

        return window.Count > 0;
    }

    // A defect result takes two publishes; the broker's receive maximum bounds what may be in flight.
    private int Room() => Math.Min(Window, Math.Max(1, mqtt.ReceiveMaximum / 2));

    // Up to Window results are in flight at once: waiting for each PUBACK before sending the next capped throughput at
    // one broker round trip per result, and on a 2-core box those round trips wait for the CPU (docs/performance.md).
    // The client writes packets in call order, so the broker still sees them in order. After the first failed send,
    // that result and every later one of the window go to the outbox (a later one may then arrive twice: at-least-once,
    // de-duplicable by id).
    private async Task SendOrStoreAsync(List<OutboxEntry> window)
    {
        if (!mqtt.IsConnected)
        {
            outbox.Append(window);
            return;
        }

        var sends = window.Select(SendAsync).ToList();
        var failedAt = -1;
        for (var i = 0; i < window.Count; i++)
        {
            if (!await sends[i].ConfigureAwait(false) && failedAt < 0)
            {
                failedAt = i;
            }
        }

        if (failedAt >= 0)
        {
            outbox.Append(window[failedAt..]);
        }
    }

    // Sends the oldest backlog results (ReplayInFlight of them); acknowledges, in order, up to the first that failed.
    // Returns how many left the outbox.
    private async Task<int> ReplayWindowAsync()
    {
        var window = outbox.Peek(ReplayInFlight);
        var sends = window.Select(item => SendAsync(item.Entry)).ToList();
        var acknowledged = 0;
        for (var i = 0; i < window.Count; i++)
        {
            if (await sends[i].ConfigureAwait(false) && acknowledged == i)
            {
                outbox.Acknowledge(window[i].End);
                acknowledged++;
            }
        }

        Interlocked.Add(ref _replayed, acknowledged);
        if (acknowledged > 0 && outbox.Count == 0)
        {
            LogReplayed(Logger, Replayed);
        }

        return acknowledged;
    }

    // Both publishes start before either is awaited, so results and defects keep their order on their topics when
    // several results are in flight. The defect topic feeds reject gates; a failure of either sends the pair again
    // later (at-least-once). True when the result is done with: delivered, or refused for good and set aside.
    private async Task<bool> SendAsync(OutboxEntry entry)
    {
        var result = PublishAsync(topics.Result(entry.Camera), entry.Payload);
        var defect = entry.Defect ? PublishAsync(topics.Defect(entry.Camera), entry.Payload) : Task.FromResult(Sent.Delivered);
        var (onResult, onDefect) = (await result.ConfigureAwait(false), await defect.ConfigureAwait(false));
        if (onResult == Sent.Delivered && onDefect == Sent.Delivered)
        {
            Interlocked.Increment(ref _published);
        }

        return onResult != Sent.Retry && onDefect != Sent.Retry;
    }

    private async Task<Sent> PublishAsync(string topic, byte[] payload)
    {
        PublishOutcome outcome;
        try
        {
            outcome = await mqtt.SendAsync(MqttConnection.Message(topic, payload), _sendDeadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping and the broker is slow to acknowledge: the result goes to the outbox for the next start.
            return Sent.Retry;
        }

        if (outcome.RefusedFor is { } reason && deadLetters is not null)
        {
            deadLetters.Add(topic, reason, payload);
            return Sent.SetAside;
        }

        return outcome.Delivered ? Sent.Delivered : Sent.Retry;
    }

    private enum Sent
    {
        Delivered,
        SetAside,
        Retry,
    }

    public override void Dispose()
    {
        _sendDeadline.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "outbox drained: {Count} results replayed since start")]
    private static partial void LogReplayed(ILogger logger, long count);

    [LoggerMessage(Level = LogLevel.Information, Message = "publisher stopped: {Published} results published, {Pending} kept in the outbox for the next start")]
    private static partial void LogDrained(ILogger logger, long published, int pending);
}
