using System.Collections.Concurrent;
using System.Diagnostics;
using Inspection.Camera.Frames;
using Inspection.Camera.Sources;
using Inspection.Config.Options;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Benchmarks;

/// <summary>One benchmarked camera: the daemon's own <see cref="CameraPipeline"/> (capture loop, inspection runner,
/// result sink) on the camera's unpaced source, watched through <see cref="IPipelineProbe"/> so every stage is timed.
/// The source is read only when the pipeline has taken the previous frames, so no decoded frame is dropped. The first
/// frames are a warm-up, not measured: at least <paramref name="minWarmUp"/>, and then until <paramref name="warmth"/>
/// says the process is warm (the JIT done with the frame path); <paramref name="frames"/> are measured after it.</summary>
internal sealed class CameraLane(CameraOptions camera, BenchStages stages, BenchWindow window, int minWarmUp, long frames, WarmUp warmth) : IPipelineProbe
{
    private const int SubmitRing = 1 << 16;
    private readonly long[] _submittedAt = new long[SubmitRing];
    private SemaphoreSlim? _room;
    private long _readLimit = long.MaxValue;
    private long _warmUpFrames = -1;
    private readonly ConcurrentQueue<double> _decodeMs = new();
    private CancellationToken _stop;
    private long _taken;
    private long _submitted;
    private long _arrived;
    private long _inspectAllocated;
    private long _allocatedBefore;
    private double _inspectCpuStart = double.NaN;
    private double _inspectCpuMs;
    private StageCpu _cpu;

    public string Id => camera.Id;

    /// <summary>Frames taken before the measured ones (-1 while still warming up).</summary>
    public long WarmUpFrames => Interlocked.Read(ref _warmUpFrames);

    public long Submitted => Interlocked.Read(ref _submitted);

    public long Arrived => Interlocked.Read(ref _arrived);

    public long Errors { get; private set; }

    public string? Failure { get; private set; }

    /// <summary>Managed bytes <see cref="InspectionRunner.Inspect"/> allocated over the measured frames (its own thread).</summary>
    public long InspectAllocated => _inspectAllocated;

    /// <summary>CPU milliseconds the inspect calls used on their own thread's clock since the measured window opened:
    /// preprocessing, the calling thread's share of the models' work (ONNX Runtime computes on it too), postprocessing.</summary>
    public double InspectCpuMs => Volatile.Read(ref _inspectCpuMs);

    /// <summary>The last result this camera submitted (numbered), or null before the first.</summary>
    public InspectionResult? LastResult { get; private set; }

    /// <summary>Frames the capture loop dropped (none expected: the source is read only when there is room).</summary>
    public long CaptureDrops { get; private set; }

    private bool Measured => WarmUpFrames >= 0;

    /// <summary>Runs the camera's pipeline until the warm-up and the measured frames were read or <paramref name="stop"/> fires;
    /// the pipeline owns (and disposes) the runner <paramref name="createRunner"/> makes.</summary>
    public async Task RunAsync(Func<InspectionRunner> createRunner, ResultSink sink, PipelineOptions pipeline, ILoggerFactory loggers, CancellationToken stop)
    {
        using var room = new SemaphoreSlim(pipeline.FrameQueueCapacity, pipeline.FrameQueueCapacity);
        (_room, _stop) = (room, stop);
        await using var cameraPipeline = new CameraPipeline(camera, pipeline, createRunner(), sink, TimeProvider.System, loggers, probe: this);
        await cameraPipeline.RunAsync(stop).ConfigureAwait(false);
        CaptureDrops = cameraPipeline.CaptureStats.FramesDropped;
        Errors = cameraPipeline.Errors;
        Failure = cameraPipeline.Failure
            ?? (Errors > 0 ? $"{Errors} frame(s) failed inspection (see the log)" : null)
            ?? (_taken == 0 ? cameraPipeline.CaptureStats.LastError ?? "the source delivered no frame" : null);
    }

    public IFrameSource CreateSource(string uri) => new ConsumerPacedSource(uri, _room!, () => Interlocked.Read(ref _readLimit), _decodeMs, _stop);

    public void FrameTaken(Frame frame)
    {
        _room!.Release();
        // The decode time of the oldest frame read and not yet taken (frames are taken in reading order).
        var decodeMs = _decodeMs.TryDequeue(out var ms) ? ms : double.NaN;
        if (++_taken > minWarmUp && !Measured && warmth.IsWarm())
        {
            // This frame is the first measured one; the source reads the measured frames after the warm-up's.
            Interlocked.Exchange(ref _readLimit, frames == long.MaxValue ? long.MaxValue : _taken - 1 + frames);
            Interlocked.Exchange(ref _warmUpFrames, _taken - 1);
            window.LaneWarmedUp();
        }

        if (Measured && !double.IsNaN(decodeMs))
        {
            stages.Decode.Add(decodeMs);
        }

        _allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        _inspectCpuStart = window.CpuReadingAtOpen is null ? double.NaN : ThreadCpu.NowMs();
    }

    public void Inspected(InspectionResult result, StageCpu cpu)
    {
        if (!double.IsNaN(_inspectCpuStart))
        {
            Volatile.Write(ref _inspectCpuMs, _inspectCpuMs + (ThreadCpu.NowMs() - _inspectCpuStart));
        }

        if (Measured)
        {
            _inspectAllocated += GC.GetAllocatedBytesForCurrentThread() - _allocatedBefore;
            stages.Add(result.LatencyMs, segmented: result.Segmentation is not null);
        }

        _cpu = cpu;

        // This pipeline is the camera's only producer, so the sink gives this result the next seq; note the time first,
        // since the broker may have it before the sink returns.
        Volatile.Write(ref _submittedAt[(Submitted + 1) % SubmitRing], Measured ? Stopwatch.GetTimestamp() : -1);
    }

    public void Queued(InspectionResult numbered, double jsonCpuMs)
    {
        Interlocked.Increment(ref _submitted);
        LastResult = numbered;
        if (Measured)
        {
            stages.AddCpu(_cpu, jsonCpuMs);
        }
    }

    /// <summary>The broker received this camera's result <paramref name="seq"/> at <paramref name="timestamp"/>.</summary>
    public void OnArrived(long seq, long timestamp)
    {
        Interlocked.Increment(ref _arrived);
        var submittedAt = Volatile.Read(ref _submittedAt[seq % SubmitRing]);
        if (submittedAt > 0)
        {
            stages.Publish.Add(Stopwatch.GetElapsedTime(submittedAt, timestamp).TotalMilliseconds);
        }

        window.ResultArrived(timestamp);
    }
}
