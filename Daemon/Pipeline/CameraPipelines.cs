using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Pipeline;

/// <summary>Runs one <see cref="CameraPipeline"/> per configured camera. On stop: capture stops, queued frames are
/// inspected, then the result sink and the snapshot queue are closed so the publisher can drain.</summary>
internal sealed partial class CameraPipelines : DaemonWorker, IStatsSource
{
    private readonly ResultSink _sink;
    private readonly SnapshotWriter _snapshots;
    private readonly Dictionary<string, CameraPipeline> _pipelines;

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "Each camera's pipeline owns the runner made for it and disposes it.")]
    public CameraPipelines(InspectionOptions options, ModelStore models, ResultSink sink, SnapshotWriter snapshots, TimeProvider time, ILoggerFactory loggers, PipelineHealth? health = null)
        : base(loggers.CreateLogger<CameraPipelines>())
    {
        _sink = sink;
        _snapshots = snapshots;
        var device = DeviceName.Of(options.Mqtt);
        _pipelines = options.Cameras.ToDictionary(
            c => c.Id,
            c => new CameraPipeline(c, options.Pipeline, new InspectionRunner(models, options.Pipeline, snapshots, device), sink, time, loggers, health),
            StringComparer.Ordinal);

        // Queued frames and results are work the watchdog expects to see finished (Hosting/PipelineHealth.cs).
        foreach (var pipeline in _pipelines.Values)
        {
            health?.AddPendingSource($"frames {pipeline.Id}", () => pipeline.QueueDepth);
        }

        health?.AddPendingSource("results", () => sink.Depth);
    }

    public IReadOnlyCollection<CameraPipeline> All => _pipelines.Values;

    public IEnumerable<string> Ids => _pipelines.Keys;

    public CameraPipeline? Find(string id) => _pipelines.GetValueOrDefault(id);

    /// <summary><c>cameras</c>: each camera's capture, queue and inspection figures.</summary>
    public void AddStats(JsonObject stats)
    {
        var cameras = new JsonObject();
        foreach (var p in _pipelines.Values)
        {
            var capture = p.CaptureStats;
            cameras[p.Id] = new JsonObject
            {
                ["state"] = p.StateName(capture),
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

        stats["cameras"] = cameras;
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.WhenAll(_pipelines.Values.Select(p => Task.Run(() => p.RunAsync(stoppingToken), CancellationToken.None))).ConfigureAwait(false);

            // With no camera left (none configured, or all failed) inspect requests on image files still need the sink.
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            _sink.Complete();
            _snapshots.Complete();
            LogStopped(Logger, _pipelines.Count);
        }
    }

    public override void Dispose()
    {
        foreach (var pipeline in _pipelines.Values)
        {
            pipeline.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "capture stopped on {Count} cameras; queued frames inspected")]
    private static partial void LogStopped(ILogger logger, int count);
}
