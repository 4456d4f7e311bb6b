namespace Inspection.Trainer.Metrics;

/// <summary>
/// Confusion counts of a binary segmentation, pixel by pixel. Ratios with an empty denominator count as perfect
/// (an image with no defect and no predicted defect has IoU, Dice, precision and recall 1).
/// </summary>
internal readonly record struct PixelCounts(long TruePositive, long FalsePositive, long FalseNegative, long TrueNegative)
{
    /// <summary>Intersection over union (Jaccard) of prediction and truth.</summary>
    public double Iou => Ratio(TruePositive, TruePositive + FalsePositive + FalseNegative);

    /// <summary>Dice coefficient, the pixel F1 score.</summary>
    public double Dice => Ratio(2 * TruePositive, (2 * TruePositive) + FalsePositive + FalseNegative);

    /// <summary>Fraction of predicted foreground pixels that are foreground.</summary>
    public double Precision => Ratio(TruePositive, TruePositive + FalsePositive);

    /// <summary>Fraction of foreground pixels that were predicted.</summary>
    public double Recall => Ratio(TruePositive, TruePositive + FalseNegative);

    /// <summary>Foreground pixels in the truth.</summary>
    public long Positives => TruePositive + FalseNegative;

    /// <summary>Sums two sets of counts.</summary>
    public static PixelCounts operator +(PixelCounts a, PixelCounts b) => new(
        a.TruePositive + b.TruePositive, a.FalsePositive + b.FalsePositive, a.FalseNegative + b.FalseNegative, a.TrueNegative + b.TrueNegative);

    /// <summary>Counts a probability map thresholded at <paramref name="threshold"/> (inclusive) against a 0/1 truth.</summary>
    public static PixelCounts Count(ReadOnlySpan<float> probabilities, ReadOnlySpan<byte> truth, float threshold)
    {
        if (probabilities.Length != truth.Length)
        {
            throw new ArgumentException($"prediction has {probabilities.Length} pixels, truth {truth.Length}");
        }

        long tp = 0, fp = 0, fn = 0, tn = 0;
        for (var i = 0; i < truth.Length; i++)
        {
            var predicted = probabilities[i] >= threshold;
            var actual = truth[i] != 0;
            if (predicted)
            {
                if (actual) { tp++; } else { fp++; }
            }
            else if (actual)
            {
                fn++;
            }
            else
            {
                tn++;
            }
        }

        return new PixelCounts(tp, fp, fn, tn);
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 1.0 : (double)numerator / denominator;
}

/// <summary>Segmentation metrics over a set of images at one threshold.</summary>
/// <param name="Threshold">Pixel probability threshold.</param>
/// <param name="Iou">IoU over the whole set (all pixels pooled).</param>
/// <param name="Dice">Dice over the whole set.</param>
/// <param name="PixelPrecision">Pixel precision over the whole set.</param>
/// <param name="PixelRecall">Pixel recall over the whole set.</param>
/// <param name="MeanImageIou">IoU per image, averaged.</param>
/// <param name="MeanImageDice">Dice per image, averaged.</param>
/// <param name="Images">Images measured.</param>
/// <param name="Positives">Foreground pixels in the truth.</param>
/// <param name="MarkedFraction">Fraction of all pixels the model marks as defect.</param>
/// <param name="TruthFraction">Fraction of all pixels that are defect in the truth.</param>
internal sealed record SegmentationMetrics(
    double Threshold, double Iou, double Dice, double PixelPrecision, double PixelRecall, double MeanImageIou, double MeanImageDice, int Images, long Positives,
    double MarkedFraction = 0, double TruthFraction = 0)
{
    /// <summary>Pools per-image counts.</summary>
    public static SegmentationMetrics From(double threshold, IReadOnlyList<PixelCounts> perImage)
    {
        var total = perImage.Aggregate(default(PixelCounts), (a, b) => a + b);
        return new SegmentationMetrics(
            threshold,
            total.Iou,
            total.Dice,
            total.Precision,
            total.Recall,
            perImage.Count == 0 ? 0 : perImage.Average(c => c.Iou),
            perImage.Count == 0 ? 0 : perImage.Average(c => c.Dice),
            perImage.Count,
            total.Positives,
            Fraction(total.TruePositive + total.FalsePositive, total),
            Fraction(total.Positives, total));
    }

    /// <summary>Name → value, as stored in the manifest's metrics and <c>metrics.json</c>.</summary>
    public Dictionary<string, double> ToDictionary() => new()
    {
        ["threshold"] = Threshold,
        ["iou"] = Iou,
        ["dice"] = Dice,
        ["pixel_precision"] = PixelPrecision,
        ["pixel_recall"] = PixelRecall,
        ["mean_image_iou"] = MeanImageIou,
        ["mean_image_dice"] = MeanImageDice,
        ["images"] = Images,
        ["positive_pixels"] = Positives,
        ["marked_fraction"] = MarkedFraction,
        ["truth_fraction"] = TruthFraction,
    };

    private static double Fraction(long part, PixelCounts total)
    {
        var all = total.TruePositive + total.FalsePositive + total.FalseNegative + total.TrueNegative;
        return all == 0 ? 0 : (double)part / all;
    }
}
