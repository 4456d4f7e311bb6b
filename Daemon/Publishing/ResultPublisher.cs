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
    private long _published;

    public long Published => Interlocked.Read(ref _published);

    // The loop ends when the sink is completed (at shutdown, after capture stopped), not on the stopping token:
    // queued results must still reach the broker or the outbox.
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        var reader = sink.Reader;
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

            while (reader.TryRead(out var entry))
            {
                if (outbox.Count > 0 || !await SendAsync(entry, CancellationToken.None).ConfigureAwait(false))
                {
                    Store(entry);
                }

                // Sent or kept in the outbox: either way the result left the queue (the watchdog's "progress").
                health?.MarkProgress();
            }
        }

        if (outbox.Count > 0 && mqtt.IsConnected)
        {
            await ReplayAsync(stoppingToken).ConfigureAwait(false);
        }

        LogDrained(Logger, Published, outbox.Count);
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

    private async Task<bool> SendAsync(OutboxEntry entry, CancellationToken ct)
    {
        if (!await mqtt.PublishAsync(MqttConnection.Message(topics.Result(entry.Camera), entry.Payload), ct).ConfigureAwait(false))
        {
            return false;
        }

        // The defect topic feeds reject gates; a failure here sends the pair again later (at-least-once).
        if (entry.Defect && !await mqtt.PublishAsync(MqttConnection.Message(topics.Defect(entry.Camera), entry.Payload), ct).ConfigureAwait(false))
        {
            return false;
        }

        Interlocked.Increment(ref _published);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "replayed {Count} results from the outbox; {Left} left")]
    private static partial void LogReplayed(ILogger logger, int count, int left);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot write a result of camera {Camera} to the outbox, it is lost: {Error}")]
    private static partial void LogOutboxFailed(ILogger logger, string camera, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "publisher stopped: {Published} results published, {Pending} kept in the outbox for the next start")]
    private static partial void LogDrained(ILogger logger, long published, int pending);
}
