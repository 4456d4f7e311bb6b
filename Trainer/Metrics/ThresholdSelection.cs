using System.Globalization;

namespace Inspection.Trainer.Metrics;

/// <summary>The chosen threshold and the validation evidence behind it.</summary>
/// <param name="Threshold">Scores at or above this are defective.</param>
/// <param name="RecallTarget">The recall asked for.</param>
/// <param name="Counts">Validation counts at the threshold.</param>
/// <param name="RecallLowerBound">One-sided Clopper–Pearson lower bound of the recall.</param>
/// <param name="Confidence">Its confidence level.</param>
/// <param name="MorePositivesNeeded">Defective validation samples (all caught) that would lift the bound to the target; 0 when it is there.</param>
internal sealed record ThresholdChoice(double Threshold, double RecallTarget, Confusion Counts, double RecallLowerBound, double Confidence, long? MorePositivesNeeded)
{
    /// <summary>Whether the lower bound reaches the target.</summary>
    public bool BoundReachesTarget => RecallLowerBound >= RecallTarget;

    /// <summary>Plain-language statement of the evidence.</summary>
    public string Evidence()
    {
        var c = Counts;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"threshold {Threshold:F4}: validation recall {c.Recall:P2} ({c.TruePositive} of {c.Positives} defects caught), precision {c.Precision:P2}, specificity {c.Specificity:P2}, F1 {c.F1:F3}; " +
            $"{Confidence:P0} lower bound of recall {RecallLowerBound:P2} (Clopper-Pearson, {c.Positives} positives)");
        if (BoundReachesTarget)
        {
            return text + string.Create(CultureInfo.InvariantCulture, $" >= target {RecallTarget:P2}");
        }

        var more = MorePositivesNeeded is { } m
            ? string.Create(CultureInfo.InvariantCulture, $"at least {m} more defective validation samples, all caught, would be needed to show it at {Confidence:P0} confidence")
            : "no number of additional samples can show it";
        return text + string.Create(CultureInfo.InvariantCulture, $" is BELOW the target {RecallTarget:P2}: {c.Positives} positives are too few to confirm the target; {more}");
    }
}

/// <summary>Picks the decision threshold on validation scores for a recall target.</summary>
internal static class ThresholdSelection
{
    /// <summary>
    /// Subtracted from the chosen threshold before it goes into a package. The chosen threshold is the score of a
    /// validation defect; without a margin, a last-digit difference in that score (another CPU's kernels, the CUDA
    /// provider: ~1e-7 to 1e-6) would flip it to "good". 1e-5 is ten times that, and far below any score gap that
    /// matters for the operating point.
    /// </summary>
    public const double Margin = 1e-5;

    /// <summary><paramref name="threshold"/> less <see cref="Margin"/>, kept a probability in (0, 1).</summary>
    public static double WithMargin(double threshold) => Math.Clamp(threshold - Margin, 1e-7, 1 - 1e-7);

    /// <summary>
    /// The highest threshold whose recall reaches <paramref name="recallTarget"/>. Candidate thresholds are the scores
    /// themselves, so tied scores are flagged or passed together. Throws when the validation data has no defect.
    /// </summary>
    public static ThresholdChoice ForRecall(IReadOnlyList<double> scores, IReadOnlyList<bool> labels, double recallTarget, double confidence = 0.95)
    {
        if (recallTarget is <= 0 or >= 1 || double.IsNaN(recallTarget))
        {
            throw new ArgumentOutOfRangeException(nameof(recallTarget), recallTarget, "recall target must be in (0, 1)");
        }

        var positives = labels.Count(l => l);
        if (positives == 0)
        {
            throw new ArgumentException("the validation data holds no defective sample: no threshold can be chosen for a recall target");
        }

        // Recall only grows as the threshold falls, so the first point (highest threshold) that reaches it is the answer.
        // The lowest score always reaches recall 1, so one exists.
        var point = Ranking.Curve(scores, labels).First(p => p.Counts.Recall >= recallTarget);
        var caught = point.Counts.TruePositive;
        return new ThresholdChoice(
            point.Threshold,
            recallTarget,
            point.Counts,
            ClopperPearson.Lower(caught, positives, confidence),
            confidence,
            ClopperPearson.MorePositivesNeeded(caught, positives, recallTarget, confidence));
    }
}
