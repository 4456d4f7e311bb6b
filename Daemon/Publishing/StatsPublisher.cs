using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

/// <summary>Publishes <c>stats</c> every <see cref="MqttOptions.StatsInterval"/>, and the retained <c>models</c> message
/// on every (re)connect and whenever the models or thresholds change.</summary>
public sealed class StatsPublisher : DaemonWorker
{
    private readonly MqttOptions _options;
    private readonly MqttConnection _mqtt;
    private readonly Topics _topics;
    private readonly ModelStore _models;
    private readonly CameraPipelines _cameras;
    private readonly ResultSink _sink;
    private readonly DiskOutbox _outbox;
    private readonly ResultJournal _journal;
    private readonly ResultPublisher _publisher;
    private readonly SnapshotWriter _snapshots;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _started;
    private readonly SemaphoreSlim _modelsChanged = new(0);
    private (DateTimeOffset At, long Replayed) _lastReplay;
    private double _replayRate;

    public StatsPublisher(InspectionOptions options, MqttConnection mqtt, Topics topics, ModelStore models, CameraPipelines cameras, ResultSink sink,
        DiskOutbox outbox, ResultJournal journal, ResultPublisher publisher, SnapshotWriter snapshots, TimeProvider time, ILogger<StatsPublisher> logger)
        : base(logger)
    {
        _options = options.Mqtt;
        _mqtt = mqtt;
        _topics = topics;
        _models = models;
        _cameras = cameras;
        _sink = sink;
        _outbox = outbox;
        _journal = journal;
        _publisher = publisher;
        _snapshots = snapshots;
        _time = time;
        _started = time.GetUtcNow();
        _lastReplay = (_started, 0);
        models.Changed += () => _modelsChanged.Release();
    }

    protected override Task RunAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(StatsLoopAsync(stoppingToken), ModelsLoopAsync(stoppingToken));

    private async Task StatsLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.StatsInterval, _time);
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            UpdateReplayRate();
            await _mqtt.PublishAsync(MqttConnection.Message(_topics.Stats, JsonSerializer.SerializeToUtf8Bytes(Snapshot())), ct).ConfigureAwait(false);
        }
    }

    private async Task ModelsLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await _mqtt.WhenConnected.WaitAsync(ct).ConfigureAwait(false);
            var connection = _mqtt.Connections;
            var payload = JsonSerializer.SerializeToUtf8Bytes(_models.Describe(_cameras.Ids));
            await _mqtt.PublishAsync(MqttConnection.Message(_topics.Models, payload, retain: true), ct).ConfigureAwait(false);

            // Next: a model or threshold change, or a new connection (the broker may have lost retained messages).
            while (!ct.IsCancellationRequested && _mqtt.Connections == connection)
            {
                if (await _modelsChanged.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
    }

    // Results replayed from the outbox per second over the last stats interval.
    private void UpdateReplayRate()
    {
        var now = (At: _time.GetUtcNow(), _publisher.Replayed);
        var seconds = (now.At - _lastReplay.At).TotalSeconds;
        _replayRate = seconds > 0 ? Math.Round((now.Replayed - _lastReplay.Replayed) / seconds, 1) : 0;
        _lastReplay = now;
    }

    /// <summary>The <c>stats</c> payload.</summary>
    public JsonObject Snapshot()
    {
        var cameras = new JsonObject();
        foreach (var p in _cameras.All)
        {
            var capture = p.CaptureStats;
            cameras[p.Id] = new JsonObject
            {
                ["state"] = p.Failure is null ? capture.State.ToString().ToLowerInvariant() : "failed",
                ["error"] = p.Failure,
                ["paused"] = p.Paused,
                ["fps"] = Math.Round(capture.Fps, 2),
                ["frames_read"] = capture.FramesRead,
                ["frames_dropped"] = capture.FramesDropped,
                ["frames_paused"] = p.Skipped,
                ["last_error"] = capture.LastError,
                ["reconnects"] = capture.Reconnects,
                ["queue_depth"] = p.QueueDepth,
                ["inspected"] = p.Inspected,
                ["errors"] = p.Errors,
                ["latency_ms"] = JsonSerializer.SerializeToNode(p.Latency.Percentiles()),
            };
        }

        return new JsonObject
        {
            ["device"] = _topics.Device,
            ["at"] = _time.GetUtcNow().ToString("O"),
            ["uptime_s"] = Math.Round((_time.GetUtcNow() - _started).TotalSeconds, 1),
            ["provider"] = _models.Provider,
            ["cameras"] = cameras,
            ["result_queue_depth"] = _sink.Depth,
            ["published"] = _publisher.Published,
            ["outbox_depth"] = _outbox.Count,
            ["outbox_bytes"] = _outbox.PendingBytes,
            ["outbox_dropped"] = _outbox.Dropped,
            ["outbox_lost"] = _outbox.Lost,
            ["outbox_corrupt"] = _outbox.Corrupt,
            ["outbox_replayed"] = _publisher.Replayed,
            ["outbox_replay_per_s"] = _replayRate,
            ["dead_lettered"] = _publisher.DeadLettered,
            ["journal_recovered"] = _journal.Recovered,
            ["journal_errors"] = _journal.WriteErrors,
            ["mqtt_reconnects"] = _mqtt.Reconnects,
            ["snapshots_written"] = _snapshots.Written,
            ["snapshot_errors"] = _snapshots.Errors,
            ["snapshots_dropped"] = _snapshots.Dropped,
        };
    }
}
