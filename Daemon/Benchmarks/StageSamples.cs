using System.Diagnostics;
using Inspection.Inference.Runtime;

namespace Inspection.Daemon.Benchmarks;

/// <summary>Latency samples of one stage in a preallocated ring, so recording costs no allocation and a soak run does
/// not grow the benchmark's own memory. Percentiles cover the last <see cref="Capacity"/> samples.</summary>
internal sealed class StageSamples(int capacity = StageSamples.DefaultCapacity)
{
    public const int DefaultCapacity = 1 << 17;
    private readonly double[] _ms = new double[capacity];
    private readonly object _gate = new();
    private long _count;

    public int Capacity => _ms.Length;

    public long Count => Interlocked.Read(ref _count);

    public void Add(double milliseconds)
    {
        lock (_gate)
        {
            _ms[_count % _ms.Length] = milliseconds;
            _count++;
        }
    }

    public void AddSince(long startTimestamp) => Add(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);

    /// <summary>p50/p95/p99 (nearest rank) and the mean, in milliseconds; null before the first sample.</summary>
    public StagePercentiles? Percentiles()
    {
        double[] sorted;
        lock (_gate)
        {
            sorted = _ms.AsSpan(0, (int)Math.Min(_count, _ms.Length)).ToArray();
        }

        if (sorted.Length == 0)
        {
            return null;
        }

        Array.Sort(sorted);
        return new StagePercentiles(Percentile.NearestRank(sorted, 0.50), Percentile.NearestRank(sorted, 0.95), Percentile.NearestRank(sorted, 0.99), sorted.Average(), Count);
    }
}

/// <summary>One stage's figures.</summary>
internal sealed record StagePercentiles(double P50Ms, double P95Ms, double P99Ms, double MeanMs, long Count);
