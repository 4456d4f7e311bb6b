using System.Globalization;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Segmenter;

/// <summary>What a segmenter must show on its test split to become <c>current</c>; configurable and printed.</summary>
internal sealed record SegmenterGatePolicy
{
    /// <summary>Test IoU floor (all test pixels pooled).</summary>
    public double MinIou { get; init; } = 0.10;

    /// <summary>Test Dice floor.</summary>
    public double MinDice { get; init; } = 0.15;

    /// <summary>Test pixel recall floor.</summary>
    public double MinPixelRecall { get; init; } = 0.20;

    /// <summary>A model marking at least this fraction of all test pixels, and at least twice what the truth marks,
    /// marks "everything" (a model that marks every pixel has IoU = the defect fraction, and one marking 90% is not far off).</summary>
    public double MaxMarkedFraction { get; init; } = 0.50;

    /// <summary>How much lower than the deployed model's IoU (same images) the candidate's may be.</summary>
    public double MaxIouDrop { get; init; } = 0.02;

    /// <summary>The policy in one line, as printed.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"test IoU >= {MinIou:F2}, Dice >= {MinDice:F2}, pixel recall >= {MinPixelRecall:P0}, marks some pixels but not {MaxMarkedFraction:P0} or more of them when that is over twice the truth, IoU at most {MaxIouDrop:F2} below the deployed model's on the same images");
}

/// <summary>The deployed segmenter and the candidate on the same images, ones neither trained on.</summary>
/// <param name="Version">Deployed version.</param>
/// <param name="Deployed">Deployed model at its own threshold, with its own ONNX file.</param>
/// <param name="Candidate">Candidate at its threshold on the same images.</param>
/// <param name="Excluded">Images left out because the deployed model trained (or validated) on them.</param>
/// <param name="SplitKnown">Whether the deployed package recorded its split.</param>
internal sealed record SegmenterGateComparison(string Version, SegmentationMetrics Deployed, SegmentationMetrics Candidate, int Excluded, bool SplitKnown);

/// <summary>
/// Decides whether a new segmenter replaces the current one, on the test split at its chosen threshold: IoU, Dice and
/// pixel recall above floors; not degenerate (no pixel marked, or nearly every pixel marked); and, where one is deployed,
/// an IoU not lower than the deployed model's (scored with its own ONNX file and threshold on the same images) by more
/// than the margin.
/// </summary>
internal static class SegmenterGate
{
    /// <summary>Applies the gate to the candidate's test metrics; <paramref name="comparison"/> is null when there is
    /// nothing to compare with, <paramref name="noComparison"/> then says why.</summary>
    public static GateDecision Decide(SegmentationMetrics candidate, SegmenterGatePolicy policy, SegmenterGateComparison? comparison, string noComparison = "no deployed segmenter to compare with")
    {
        var checks = new List<GateCheck>
        {
            Floor("iou", "IoU", candidate.Iou, policy.MinIou, "F4"),
            Floor("dice", "Dice", candidate.Dice, policy.MinDice, "F4"),
            Floor("pixel-recall", "pixel recall", candidate.PixelRecall, policy.MinPixelRecall, "P2"),
            new("marks-something", candidate.MarkedFraction > 0, candidate.MarkedFraction > 0 ? "marks some pixels" : "marks no pixel at all"),
            MarksNotEverything(candidate, policy),
        };
        if (comparison is { } c)
        {
            var ok = c.Candidate.Iou >= c.Deployed.Iou - policy.MaxIouDrop;
            checks.Add(new("vs-deployed-iou", ok,
                F($"IoU {c.Candidate.Iou:F4} {(ok ? "is within" : "is lower than")} {policy.MaxIouDrop:F2} of deployed {c.Version}'s {c.Deployed.Iou:F4} on {c.Candidate.Images} test images neither model trained on{(c.SplitKnown ? F($" ({c.Excluded} excluded)") : " (the deployed package records no split)")}")));
        }
        else
        {
            checks.Add(new("vs-deployed", true, noComparison));
        }

        return GateDecision.From(checks, F($"test IoU {candidate.Iou:F4}, Dice {candidate.Dice:F4}, pixel recall {candidate.PixelRecall:P2}{(comparison is null ? "; " + noComparison : F($"; not worse than {comparison.Version}"))}"));
    }

    private static GateCheck MarksNotEverything(SegmentationMetrics candidate, SegmenterGatePolicy policy)
    {
        var everything = candidate.MarkedFraction >= policy.MaxMarkedFraction && candidate.MarkedFraction >= 2 * candidate.TruthFraction;
        return new("marks-not-everything", !everything,
            F($"marks {candidate.MarkedFraction:P2} of the test pixels where the truth marks {candidate.TruthFraction:P2}{(everything ? F($": at least {policy.MaxMarkedFraction:P0} and over twice the truth, it marks (nearly) everything") : "")}"));
    }

    private static GateCheck Floor(string name, string label, double value, double floor, string format)
    {
        var shown = value.ToString(format, CultureInfo.InvariantCulture);
        var limit = floor.ToString(format, CultureInfo.InvariantCulture);
        return new(name, value >= floor, $"test {label} {shown} {(value >= floor ? ">=" : "is below")} the floor {limit}");
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
