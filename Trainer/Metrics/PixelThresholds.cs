namespace Inspection.Trainer.Metrics;

/// <summary>A candidate pixel threshold and what it gives on the pooled validation pixels.</summary>
internal sealed record PixelThresholdPoint(double Threshold, PixelCounts Counts);

/// <summary>
/// Picks the pixel threshold from validation predictions. Pixels are counted into fine probability bins (1/1000), so
/// millions of pixels cost two small histograms and every candidate threshold is evaluated exactly at bin edges.
/// </summary>
internal sealed class PixelThresholds
{
    /// <summary>Number of bins; candidate thresholds are k / Bins for k = 1 … Bins − 1.</summary>
    public const int Bins = 1000;

    private readonly long[] _positive = new long[Bins + 1];
    private readonly long[] _negative = new long[Bins + 1];

    /// <summary>Adds one image's probabilities and its 0/1 truth.</summary>
    public void Add(ReadOnlySpan<float> probabilities, ReadOnlySpan<byte> truth)
    {
        if (probabilities.Length != truth.Length)
        {
            throw new ArgumentException($"prediction has {probabilities.Length} pixels, truth {truth.Length}");
        }

        for (var i = 0; i < truth.Length; i++)
        {
            // Bin k holds probabilities in [k/Bins, (k+1)/Bins); p >= k/Bins exactly when bin >= k.
            var bin = Math.Clamp((int)(probabilities[i] * Bins), 0, Bins);
            if (truth[i] != 0)
            {
                _positive[bin]++;
            }
            else
            {
                _negative[bin]++;
            }
        }
    }

    /// <summary>Counts at every candidate threshold, lowest threshold first.</summary>
    public IReadOnlyList<PixelThresholdPoint> Curve()
    {
        var totalPositive = _positive.Sum();
        var totalNegative = _negative.Sum();
        var points = new PixelThresholdPoint[Bins - 1];
        long positiveAbove = totalPositive - _positive[0];
        long negativeAbove = totalNegative - _negative[0];
        for (var k = 1; k < Bins; k++)
        {
            points[k - 1] = new PixelThresholdPoint(
                (double)k / Bins,
                new PixelCounts(positiveAbove, negativeAbove, totalPositive - positiveAbove, totalNegative - negativeAbove));
            positiveAbove -= _positive[k];
            negativeAbove -= _negative[k];
        }

        return points;
    }

    /// <summary>The threshold with the highest pooled IoU (ties: the higher threshold).</summary>
    public PixelThresholdPoint BestIou() => Curve().MaxBy(p => (p.Counts.Iou, p.Threshold))!;

    /// <summary>
    /// The highest threshold whose pooled pixel recall reaches <paramref name="target"/>; null when even the lowest
    /// candidate threshold misses it.
    /// </summary>
    public PixelThresholdPoint? ForRecall(double target) => Curve().LastOrDefault(p => p.Counts.Recall >= target);
}
