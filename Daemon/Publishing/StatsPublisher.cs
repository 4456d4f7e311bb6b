using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

/// <summary>Publishes <c>stats</c> every <see cref="MqttOptions.StatsInterval"/>: the device, the time, the uptime and
/// the fields of every <see cref="IStatsSource"/>, plus the outbox replay rate over the last interval.</summary>
internal sealed class StatsPublisher : DaemonWorker
{
    private const string Replayed = "outbox_replayed";
    private readonly MqttOptions _options;
    private readonly MqttConnection _mqtt;
    private readonly Topics _topics;
    private readonly IReadOnlyList<IStatsSource> _sources;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _started;
    private (DateTimeOffset At, long Replayed) _lastReplay;
    private double _replayRate;

    public StatsPublisher(MqttOptions options, MqttConnection mqtt, Topics topics, IEnumerable<IStatsSource> sources, TimeProvider time, ILogger<StatsPublisher> logger)
        : base(logger)
    {
        _options = options;
        _mqtt = mqtt;
        _topics = topics;
        _sources = [.. sources];
        _time = time;
        _started = time.GetUtcNow();
        _lastReplay = (_started, 0);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.StatsInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var stats = Snapshot();
            UpdateReplayRate(stats);
            await _mqtt.PublishAsync(MqttConnection.Message(_topics.Stats, JsonSerializer.SerializeToUtf8Bytes(stats)), stoppingToken).ConfigureAwait(false);
        }
    }

    // Results replayed from the outbox per second over the last stats interval (the previous figure until the next tick).
    private void UpdateReplayRate(JsonObject stats)
    {
        var now = (At: _time.GetUtcNow(), Replayed: stats[Replayed]?.GetValue<long>() ?? 0);
        var seconds = (now.At - _lastReplay.At).TotalSeconds;
        _replayRate = seconds > 0 ? Math.Round((now.Replayed - _lastReplay.Replayed) / seconds, 1) : 0;
        _lastReplay = now;
        stats["outbox_replay_per_s"] = _replayRate;
    }

    /// <summary>The <c>stats</c> payload as of now (the replay rate as of the last interval).</summary>
    public JsonObject Snapshot()
    {
        var now = _time.GetUtcNow();
        var stats = new JsonObject
        {
            ["device"] = _topics.Device,
            ["at"] = now.ToString("O"),
            ["uptime_s"] = Math.Round((now - _started).TotalSeconds, 1),
        };
        foreach (var source in _sources)
        {
            source.AddStats(stats);
        }

        // Next to the count it is derived from.
        stats.Insert(stats.IndexOf(Replayed) + 1, "outbox_replay_per_s", _replayRate);
        return stats;
    }
}
