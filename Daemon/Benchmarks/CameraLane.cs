using System.Diagnostics;
using Inspection.Camera.Capture;
using Inspection.Camera.Sources;
using Inspection.Config.Options;
using Inspection.Daemon.Pipeline;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Benchmarks;

/// <summary>One benchmarked camera: the daemon's <see cref="CaptureLoop"/> on the camera's (unpaced) source, read by the
/// same steps as <see cref="CameraPipeline"/> (an <see cref="InspectionRunner"/>, then the <see cref="ResultSink"/>
/// the publisher drains), with every stage timed. The first <see cref="WarmUp"/> frames are not measured.</summary>
public sealed class CameraLane
{
    private const int SubmitRing = 1 << 16;
    private readonly long[] _submittedAt = new long[SubmitRing];
    private readonly CameraOptions _camera;
    private readonly BenchStages _stages;
    private readonly BenchWindow _window;
    private long _submitted;
    private long _arrived;
    private long _errors;
    private long _inspectAllocated;

    public CameraLane(CameraOptions camera, BenchStages stages, BenchWindow window, int warmUp)
    {
        _camera = camera;
        _stages = stages;
        _window = window;
        WarmUp = warmUp;
    }

    public string Id => _camera.Id;

    public int WarmUp { get; }

    public long Submitted => Interlocked.Read(ref _submitted);

    public long Arrived => Interlocked.Read(ref _arrived);

    public long Errors => Interlocked.Read(ref _errors);

    public string? Failure { get; private set; }

    /// <summary>Managed bytes <see cref="InspectionRunner.Inspect"/> allocated over the measured frames (its own thread).</summary>
    public long InspectAllocated => _inspectAllocated;

    /// <summary>Frames the capture loop dropped (none expected: the source is read only when there is room).</summary>
    public long CaptureDrops { get; private set; }

    /// <summary>Captures and inspects until <paramref name="limit"/> frames were read or <paramref name="stop"/> fires.</summary>
    public async Task RunAsync(InspectionRunner runner, ResultSink sink, PipelineOptions pipeline, long limit, ILoggerFactory loggers, CancellationToken stop)
    {
        using var room = new SemaphoreSlim(pipeline.FrameQueueCapacity, pipeline.FrameQueueCapacity);
        await using var capture = new CaptureLoop(
            _camera,
            pipeline.FrameQueueCapacity,
            uri => new ConsumerPacedSource(FrameSourceFactory.Create(uri), room, limit, WarmUp, _stages.Decode, stop),
            TimeProvider.System,
            loggers.CreateLogger<CaptureLoop>());
        var capturing = capture.RunAsync(stop);
        var index = 0L;
        await foreach (var frame in capture.Frames.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            using (frame)
            {
                room.Release();
                var measured = ++index > WarmUp;
                if (index == WarmUp + 1)
                {
                    _window.LaneWarmedUp();
                }

                try
                {
                    var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                    var result = runner.Inspect(frame.Image, Id, frame.Sequence, frame.CapturedAt, partId: null, imagePath: null, forceSegmentation: false);
                    if (measured)
                    {
                        _inspectAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                        _stages.Add(result.LatencyMs, segmented: result.Segmentation is not null);
                    }

                    // This lane is the camera's only producer, so the sink gives this result the next seq; note the time
                    // first, since the broker may have it before SubmitAsync returns.
                    Volatile.Write(ref _submittedAt[(Submitted + 1) % SubmitRing], measured ? Stopwatch.GetTimestamp() : -1);
                    await sink.SubmitAsync(result, CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Increment(ref _submitted);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    if (Interlocked.Increment(ref _errors) == 1)
                    {
                        Failure = ex.Message;
                    }
                }
            }
        }

        await capturing.ConfigureAwait(false);
        CaptureDrops = capture.Stats.FramesDropped;
        if (index == 0)
        {
            Failure ??= capture.Stats.LastError ?? "the source delivered no frame";
        }
    }

    /// <summary>The broker received this camera's result <paramref name="seq"/> at <paramref name="timestamp"/>.</summary>
    public void OnArrived(long seq, long timestamp)
    {
        Interlocked.Increment(ref _arrived);
        var submittedAt = Volatile.Read(ref _submittedAt[seq % SubmitRing]);
        if (submittedAt > 0)
        {
            _stages.Publish.Add(Stopwatch.GetElapsedTime(submittedAt, timestamp).TotalMilliseconds);
        }

        _window.ResultArrived(timestamp);
    }
}
