namespace Inspection.Inference.Runtime;

/// <summary>The one percentile formula for timing figures (the daemon's <c>stats</c>, <c>inspectiond bench</c>,
/// <c>trainer eval</c>), so the same samples give the same p50/p95/p99 wherever they are reported.</summary>
public static class Percentile
{
    /// <summary>Nearest rank: the smallest sample with at least <paramref name="quantile"/> of the samples at or below
    /// it (<c>sorted[⌈q·n⌉ − 1]</c>); always one of the samples. <paramref name="sorted"/> is ascending and not empty.</summary>
    public static double NearestRank(ReadOnlySpan<double> sorted, double quantile)
    {
        if (sorted.IsEmpty)
        {
            throw new ArgumentException("no samples", nameof(sorted));
        }

        return sorted[Math.Clamp((int)Math.Ceiling(quantile * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
