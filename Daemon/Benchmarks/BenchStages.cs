using System.Diagnostics;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Benchmarks;

/// <summary>The pipeline's stages as the benchmark reports them, in order.</summary>
internal sealed class BenchStages
{
    public StageSamples Decode { get; } = new();

    public StageSamples Preprocess { get; } = new();

    public StageSamples Classify { get; } = new();

    public StageSamples Segment { get; } = new();

    public StageSamples Postprocess { get; } = new();

    public StageSamples Publish { get; } = new();

    /// <summary>Preprocess to postprocess of one frame, as the result's <c>latency_ms.total</c> says.</summary>
    public StageSamples Inspect { get; } = new();

    /// <summary>CPU time (the inspecting thread's) per frame of the stages outside the models, decode excluded.</summary>
    public StageSamples PreprocessCpu { get; } = new();

    public StageSamples PostprocessCpu { get; } = new();

    public StageSamples JsonCpu { get; } = new();

    /// <summary>Preprocess + postprocess + JSON CPU of each frame.</summary>
    public StageSamples FrameCpu { get; } = new();

    public IEnumerable<(string Name, StageSamples Samples)> All =>
    [
        ("decode", Decode), ("preprocess", Preprocess), ("classify", Classify), ("segment", Segment),
        ("postprocess", Postprocess), ("publish", Publish), ("inspect_total", Inspect),
    ];

    public IEnumerable<(string Name, StageSamples Samples)> Cpu =>
        [("preprocess", PreprocessCpu), ("postprocess", PostprocessCpu), ("json", JsonCpu), ("frame_without_publish", FrameCpu)];

    /// <summary>Share of measured frames the segmenter ran on (it is skipped on confidently good frames).</summary>
    public double SegmentedFraction => Classify.Count == 0 ? 0 : (double)Segment.Count / Classify.Count;

    public void Add(StageLatency latency, bool segmented)
    {
        Preprocess.Add(latency.Preprocess);
        Classify.Add(latency.Classify);
        if (segmented)
        {
            Segment.Add(latency.Segment);
            Postprocess.Add(latency.Postprocess);
        }

        Inspect.Add(latency.Total);
    }

    public void AddCpu(StageCpu cpu, double jsonMs)
    {
        PreprocessCpu.Add(cpu.PreprocessMs);
        PostprocessCpu.Add(cpu.PostprocessMs);
        JsonCpu.Add(jsonMs);
        FrameCpu.Add(cpu.PreprocessMs + cpu.PostprocessMs + jsonMs);
    }
}

/// <summary>The measured window: it opens when every camera is past its warm-up (with the process's allocation count,
/// CPU time, GC pause time and its threads' and the outside processes' CPU times at that moment) and closes at the last
/// result the broker received.</summary>
internal sealed class BenchWindow(int cameras, ThreadWatch? threads = null, IReadOnlyDictionary<string, int>? outside = null)
{
    private int _warming = cameras;
    private long _opened;
    private long _lastArrival;
    private long _resultsInWindow;

    public long OpenedAt => Interlocked.Read(ref _opened);

    public long LastArrival => Interlocked.Read(ref _lastArrival);

    public long AllocatedAtOpen { get; private set; }

    /// <summary>The process's CPU time when the window opened.</summary>
    public TimeSpan CpuAtOpen { get; private set; }

    public long ResultsInWindow => Interlocked.Read(ref _resultsInWindow);

    /// <summary>The process's threads when the window opened (null before).</summary>
    public CpuReading? CpuReadingAtOpen { get; private set; }

    public void LaneWarmedUp()
    {
        if (Interlocked.Decrement(ref _warming) == 0)
        {
            AllocatedAtOpen = GC.GetTotalAllocatedBytes(precise: true);
            CpuReadingAtOpen = CpuReading.Take(threads, outside);
            CpuAtOpen = Process.GetCurrentProcess().TotalProcessorTime;
            Interlocked.Exchange(ref _opened, Stopwatch.GetTimestamp());
        }
    }

    public void ResultArrived(long timestamp)
    {
        var opened = OpenedAt;
        if (opened > 0 && timestamp >= opened)
        {
            Interlocked.Increment(ref _resultsInWindow);
        }

        long seen;
        do
        {
            seen = LastArrival;
        }
        while (timestamp > seen && Interlocked.CompareExchange(ref _lastArrival, timestamp, seen) != seen);
    }

    public double Seconds => OpenedAt == 0 ? 0 : Stopwatch.GetElapsedTime(OpenedAt, LastArrival).TotalSeconds;

    public double Fps => Seconds <= 0 ? 0 : ResultsInWindow / Seconds;
}
