using System.Globalization;
using Inspection.Inference.Runtime;

namespace Inspection.Trainer.Evaluation;

/// <summary>Mean and nearest-rank percentiles of a set of per-image times, in milliseconds.</summary>
/// <param name="MeanMs">Mean.</param>
/// <param name="P50Ms">Median (nearest rank).</param>
/// <param name="P95Ms">95th percentile (nearest rank).</param>
/// <param name="Runs">How many times were measured.</param>
internal sealed record LatencySummary(double MeanMs, double P50Ms, double P95Ms, int Runs)
{
    /// <summary>Summarises <paramref name="milliseconds"/>; at least one value.</summary>
    public static LatencySummary From(IReadOnlyCollection<double> milliseconds)
    {
        if (milliseconds.Count == 0)
        {
            throw new ArgumentException("no times to summarise", nameof(milliseconds));
        }

        var sorted = milliseconds.Order().ToArray();
        return new LatencySummary(sorted.Average(), Percentile.NearestRank(sorted, 0.50), Percentile.NearestRank(sorted, 0.95), sorted.Length);
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"mean {MeanMs:F1} ms, p50 {P50Ms:F1} ms, p95 {P95Ms:F1} ms over {Runs} runs");
}
