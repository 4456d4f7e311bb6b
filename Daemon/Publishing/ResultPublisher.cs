using Inspection.Daemon.Hosting;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

/// <summary>Sends results in order: straight to the broker while it is there and the outbox is empty, otherwise into
/// the disk outbox, which is replayed (oldest first) as soon as the broker is back. A result leaves the outbox only
/// after the broker's PUBACK; results also go to the defect topic when they are defects.</summary>
public sealed partial class ResultPublisher(ResultSink sink, DiskOutbox outbox, MqttConnection mqtt, Topics topics, ILogger<ResultPublisher> logger, PipelineHealth? health = null)
    : DaemonWorker(logger)
{
    private const int Window = 16;
    private long _published;

    public long Published => Interlocked.Read(ref _published);

    // The loop ends when the sink is completed (at shutdown, after capture stopped), not on the stopping token:
    // queued results must still reach the broker or the outbox.
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var reader = sink.Reader;
        var window = new List<OutboxEntry>(Window);
        while (true)
        {
            if (outbox.Count > 0 && mqtt.IsConnected)
            {
                await ReplayAsync(stoppingToken).ConfigureAwait(false);
            }

            var wait = reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (outbox.Count > 0 && !wait.IsCompleted)
            {
                // A backlog is waiting: wake up for new results, for the broker's return, or to retry a stalled replay.
                var retry = mqtt.IsConnected ? Task.Delay(TimeSpan.FromMilliseconds(500), CancellationToken.None) : mqtt.WhenConnected;
                await Task.WhenAny(wait, retry).ConfigureAwait(false);
                if (!wait.IsCompleted)
                {
                    continue;
                }
            }

            if (!await wait.ConfigureAwait(false))
            {
                break;
            }

            while (TakeWindow(reader, window))
            {
                await SendOrStoreAsync(window).ConfigureAwait(false);

                // Sent or kept in the outbox: either way the results left the queue (the watchdog's "progress").
                health?.MarkProgress();
                window.Clear();
            }
        }

        if (outbox.Count > 0 && mqtt.IsConnected)
        {
            await ReplayAsync(stoppingToken).ConfigureAwait(false);
        }

        LogDrained(Logger, Published, outbox.Count);
    }

    private bool TakeWindow(System.Threading.Channels.ChannelReader<OutboxEntry> reader, List<OutboxEntry> window)
    {
        // A defect result takes two publishes; the broker's receive maximum bounds what may be in flight.
        var room = Math.Min(Window, Math.Max(1, mqtt.ReceiveMaximum / 2));
        while (window.Count < room && reader.TryRead(out var entry))
        {
            window.Add(entry);
        }

        return window.Count > 0;
    }

    // Up to Window results are in flight at once: waiting for each PUBACK before sending the next capped throughput at
    // one broker round trip per result, and on a 2-core box those round trips wait for the CPU (README, Performance).
    // The client writes packets in call order, so the broker still sees them in order. After the first failed send,
    // that result and every later one of the window go to the outbox (a later one may then arrive twice: at-least-once,
    // de-duplicable by id), so the order is kept across the outbox as well.
    private async Task SendOrStoreAsync(List<OutboxEntry> window)
    {
        if (outbox.Count > 0 || !mqtt.IsConnected)
        {
            window.ForEach(Store);
            return;
        }

        var sends = window.Select(entry => SendAsync(entry, CancellationToken.None)).ToList();
        var failed = false;
        for (var i = 0; i < window.Count; i++)
        {
            var sent = await sends[i].ConfigureAwait(false);
            failed |= !sent;
            if (failed)
            {
                Store(window[i]);
            }
            else
            {
                Interlocked.Increment(ref _published);
            }
        }
    }

    private async Task ReplayAsync(CancellationToken stoppingToken)
    {
        var replayed = 0;
        while (outbox.Peek() is { } next)
        {
            if (!await SendAsync(next.Entry, CancellationToken.None).ConfigureAwait(false))
            {
                break;
            }

            outbox.Acknowledge(next.End);
            Interlocked.Increment(ref _published);
            replayed++;
            if (stoppingToken.IsCancellationRequested && !mqtt.IsConnected)
            {
                break;
            }
        }

        if (replayed > 0)
        {
            LogReplayed(Logger, replayed, outbox.Count);
        }
    }

    private void Store(OutboxEntry entry)
    {
        try
        {
            outbox.Append(entry);
        }
        catch (IOException ex)
        {
            LogOutboxFailed(Logger, entry.Camera, ex.Message);
        }
    }

    // Both publishes start before either is awaited, so results and defects keep their order on their topics when
    // several results are in flight. The defect topic feeds reject gates; a failure of either sends the pair again
    // later (at-least-once).
    private async Task<bool> SendAsync(OutboxEntry entry, CancellationToken ct)
    {
        var result = mqtt.PublishAsync(MqttConnection.Message(topics.Result(entry.Camera), entry.Payload), ct);
        var defect = entry.Defect ? mqtt.PublishAsync(MqttConnection.Message(topics.Defect(entry.Camera), entry.Payload), ct) : Task.FromResult(true);
        var sent = await result.ConfigureAwait(false);
        return await defect.ConfigureAwait(false) && sent;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "replayed {Count} results from the outbox; {Left} left")]
    private static partial void LogReplayed(ILogger logger, int count, int left);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot write a result of camera {Camera} to the outbox, it is lost: {Error}")]
    private static partial void LogOutboxFailed(ILogger logger, string camera, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "publisher stopped: {Published} results published, {Pending} kept in the outbox for the next start")]
    private static partial void LogDrained(ILogger logger, long published, int pending);
}
