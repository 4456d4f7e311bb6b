using System.Globalization;
using Inspection.Trainer.Evaluation;

namespace Inspection.Trainer.Training;

/// <summary>The gate's verdict.</summary>
/// <param name="Pass">Whether the new model may become <c>current</c>.</param>
/// <param name="Reason">Why, in one or two sentences.</param>
public sealed record GateDecision(bool Pass, string Reason);

/// <summary>
/// Decides whether a new classifier replaces the current one. It must (1) meet the recall target on the test split
/// within the statistical bound: the one-sided 95% Clopper–Pearson upper bound of its test recall reaches the target,
/// i.e. the test set does not show that recall is below target; and (2) not be worse than the model it replaces on the
/// same test images: lower recall is worse, and at equal recall lower precision is worse.
/// </summary>
public static class QualityGate
{
    /// <summary>Applies the gate; <paramref name="replaced"/> is null when there is no current model.</summary>
    public static GateDecision Decide(BinaryReport candidate, double recallTarget, BinaryReport? replaced, string? replacedVersion)
    {
        var reasons = new List<string>();
        if (candidate.RecallUpperBound < recallTarget)
        {
            reasons.Add(F($"test recall {candidate.Recall:P2} ({candidate.Tp} of {candidate.Tp + candidate.Fn}) is below the target {recallTarget:P2} beyond the 95% bound (upper bound {candidate.RecallUpperBound:P2})"));
        }

        if (replaced is not null)
        {
            var worse = candidate.Recall < replaced.Recall || (candidate.Recall == replaced.Recall && candidate.Precision < replaced.Precision);
            if (worse)
            {
                reasons.Add(F($"worse than the current model {replacedVersion} on the same test images (recall {candidate.Recall:P2} vs {replaced.Recall:P2}, precision {candidate.Precision:P2} vs {replaced.Precision:P2})"));
            }
        }

        if (reasons.Count > 0)
        {
            return new GateDecision(false, string.Join("; ", reasons));
        }

        var versus = replaced is null ? "no current model to compare with" : F($"not worse than {replacedVersion} (recall {replaced.Recall:P2}, precision {replaced.Precision:P2})");
        return new GateDecision(true, F($"test recall {candidate.Recall:P2} meets the target {recallTarget:P2} within the 95% bound (upper bound {candidate.RecallUpperBound:P2}); {versus}"));
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
