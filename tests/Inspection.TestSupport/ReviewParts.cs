using Inspection.Config.Options;
using Inspection.Daemon.History;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Review;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inspection.TestSupport;

/// <summary>A review queue wired as the daemon wires it (result sink, snapshot writer, history), without a host.</summary>
internal sealed class ReviewParts : IDisposable
{
    public ReviewParts(InspectionOptions options)
    {
        Sink = new ResultSink(options.Pipeline);
        Snapshots = new SnapshotWriter(options.Snapshots, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        History = new ResultHistory(options, Sink, Snapshots, TimeProvider.System, NullLogger<ResultHistory>.Instance);
        Queue = new ReviewQueue(options, Snapshots, History, NullLogger<ReviewQueue>.Instance);
    }

    public ResultSink Sink { get; }

    public SnapshotWriter Snapshots { get; }

    public ResultHistory History { get; }

    public ReviewQueue Queue { get; }

    public void Dispose()
    {
        History.Dispose();
        Snapshots.Dispose();
        Sink.Dispose();
    }
}
