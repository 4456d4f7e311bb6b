using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Tampering;

/// <summary>Checks each camera's freshest frame every <c>Tampering:Interval</c> (off the inspection path) and raises or
/// clears its alarm: retained on <c>{prefix}/{device}/{camera}/alarm</c> while active, the retained message removed (an
/// empty retained publish) when it ends; counted in metrics and stamped on the camera's results.</summary>
internal sealed partial class TamperWatch : DaemonWorker
{
    private readonly CameraPipelines _cameras;
    private readonly MqttConnection _mqtt;
    private readonly Topics _topics;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (string Kind, DateTimeOffset Since)> _active = new(StringComparer.Ordinal);

    public TamperWatch(CameraPipelines cameras, ResultSink sink, MqttConnection mqtt, Topics topics, TimeProvider time, ILogger<TamperWatch> logger)
        : base(logger)
    {
        _cameras = cameras;
        _mqtt = mqtt;
        _topics = topics;
        _time = time;
        sink.AlarmOf = AlarmOf;
    }

    /// <summary>A camera's alarm started: the camera and the alarm's kind (the metrics count them).</summary>
    public event Action<string, string>? AlarmRaised;

    public string? AlarmOf(string camera) => _active.TryGetValue(camera, out var alarm) ? alarm.Kind : null;

    public string AlarmTopic(string camera) => $"{_topics.Root}/{camera}/alarm";

    protected override Task RunAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(_cameras.All.Where(p => p.Camera.Tampering.Enabled).Select(p => Task.Run(() => WatchAsync(p, stoppingToken), CancellationToken.None)));

    private async Task WatchAsync(CameraPipeline camera, CancellationToken ct)
    {
        using var detector = new TamperDetector(camera.Camera.Tampering);
        using var timer = new PeriodicTimer(camera.Camera.Tampering.Interval, _time);
        long lastFrame = -1;
        var unpublished = false;
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            using (var frame = camera.TryGetLatest())
            {
                if (frame is not null && frame.Sequence != lastFrame)
                {
                    lastFrame = frame.Sequence;
                    if (detector.Check(frame.Image))
                    {
                        Change(camera.Id, detector);
                        unpublished = true;
                    }
                }
            }

            // Retried each tick until the broker has it (it may be away when the alarm starts).
            if (unpublished)
            {
                unpublished = !await _mqtt.PublishAsync(MqttConnection.Message(AlarmTopic(camera.Id), Payload(camera.Id, detector), retain: true), ct).ConfigureAwait(false);
            }
        }
    }

    private void Change(string camera, TamperDetector detector)
    {
        var m = detector.Last;
        if (detector.Alarm is { } kind)
        {
            _active[camera] = (kind, _time.GetUtcNow());
            AlarmRaised?.Invoke(camera, kind);
            LogAlarm(Logger, camera, kind, m.Brightness, m.Contrast, m.Sharpness, m.Similarity);
        }
        else
        {
            _active.TryRemove(camera, out _);
            LogCleared(Logger, camera);
        }
    }

    private byte[] Payload(string camera, TamperDetector detector)
    {
        if (!_active.TryGetValue(camera, out var alarm))
        {
            return [];
        }

        var m = detector.Last;
        return Encoding.UTF8.GetBytes(new JsonObject
        {
            ["device"] = _topics.Device,
            ["camera"] = camera,
            ["alarm"] = alarm.Kind,
            ["since"] = alarm.Since.UtcDateTime.ToString("O"),
            ["brightness"] = Math.Round(m.Brightness, 1),
            ["contrast"] = Math.Round(m.Contrast, 1),
            ["sharpness"] = Math.Round(m.Sharpness, 1),
            ["similarity"] = Math.Round(m.Similarity, 3),
        }.ToJsonString());
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "camera {Camera} tampering alarm: {Kind} (brightness {Brightness:F0}, contrast {Contrast:F1}, sharpness {Sharpness:F0}, similarity {Similarity:F2})")]
    private static partial void LogAlarm(ILogger logger, string camera, string kind, double brightness, double contrast, double sharpness, double similarity);

    [LoggerMessage(Level = LogLevel.Information, Message = "camera {Camera} tampering alarm cleared")]
    private static partial void LogCleared(ILogger logger, string camera);
}
