using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Pipeline;

/// <summary>Runs one <see cref="CameraPipeline"/> per configured camera. On stop: capture stops, queued frames are
/// inspected, then the result sink and the snapshot queue are closed so the publisher can drain.</summary>
public sealed partial class CameraPipelines : DaemonWorker
{
    private readonly ResultSink _sink;
    private readonly SnapshotWriter _snapshots;
    private readonly Dictionary<string, CameraPipeline> _pipelines;

    public CameraPipelines(InspectionOptions options, ModelStore models, ResultSink sink, SnapshotWriter snapshots, Topics topics, TimeProvider time, ILoggerFactory loggers, PipelineHealth? health = null)
        : base(loggers.CreateLogger<CameraPipelines>())
    {
        _sink = sink;
        _snapshots = snapshots;
        _pipelines = options.Cameras.ToDictionary(
            c => c.Id,
            c => new CameraPipeline(c, options.Pipeline, new InspectionRunner(models, options.Pipeline, snapshots, topics.Device), sink, time, loggers, health),
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
