using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;

namespace Inspection.Trainer.Training;

/// <summary>One check of a gate: what was measured, against what, and whether it passed.</summary>
/// <param name="Name">Short name: <c>recall</c>, <c>auroc</c>, <c>vs-deployed-recall</c>, ….</param>
/// <param name="Pass">Whether it passed (informational lines always pass).</param>
/// <param name="Detail">The figures, in one line.</param>
internal sealed record GateCheck(string Name, bool Pass, string Detail)
{
    /// <inheritdoc />
    public override string ToString() => $"{(Pass ? "ok  " : "FAIL")} {Name}: {Detail}";
}

/// <summary>The gate's verdict.</summary>
/// <param name="Pass">Whether the new model may become <c>current</c>.</param>
/// <param name="Reason">Why, in one or two sentences: the failed checks, or a summary of the passed ones.</param>
/// <param name="Checks">Every check, passed or not, for the log, <c>GATE.txt</c> and the report.</param>
internal sealed record GateDecision(bool Pass, string Reason, IReadOnlyList<GateCheck> Checks)
{
    /// <summary>Builds the verdict from the checks.</summary>
    public static GateDecision From(IReadOnlyList<GateCheck> checks, string passSummary)
    {
        var failed = checks.Where(c => !c.Pass).ToList();
        return new GateDecision(failed.Count == 0, failed.Count == 0 ? passSummary : string.Join("; ", failed.Select(c => c.Detail)), checks);
    }

    /// <summary>The checks, one per line.</summary>
    public string Lines() => string.Join('\n', Checks.Select(c => c.ToString()));

    /// <summary>The verdict as the manifest records it; <paramref name="forced"/>: <c>--force</c> made a refused package current.</summary>
    public GateRecord Record(string policy, bool forced) => new()
    {
        Passed = Pass,
        Forced = !Pass && forced,
        Reason = Reason,
        Policy = policy,
        Checks = Checks.Select(c => c.ToString()).ToList(),
    };

    /// <summary>The package's <c>GATE.txt</c>.</summary>
    public string Note(string policy, bool forced) =>
        $"{(Pass ? "PASSED" : "REJECTED")} by the quality gate: {Reason}{(!Pass && forced ? "\nMade current anyway with --force." : "")}\n\npolicy: {policy}\n{Lines()}\n";
}

/// <summary>What a classifier must show on its test split to become <c>current</c>. All figures are configurable
/// (<c>trainer classify --min-auroc …</c>) and printed with every run.</summary>
internal sealed record ClassifierGatePolicy
{
    /// <summary>Test recall (point estimate) the candidate must reach at its threshold.</summary>
    public required double RecallTarget { get; init; }

    /// <summary>Test AUROC floor: clearly better than chance (0.5).</summary>
    public double MinAuroc { get; init; } = 0.75;

    /// <summary>Test specificity floor at the chosen threshold: a model that flags most good parts is switched off by a plant.</summary>
    public double MinSpecificity { get; init; } = 0.25;

    /// <summary>How much lower than the deployed model's specificity (same images) the candidate's may be.</summary>
    public double MaxSpecificityDrop { get; init; } = 0.05;

    /// <summary>Also require the recall's one-sided 95% Clopper–Pearson lower bound to reach the target.</summary>
    public bool RequireBound { get; init; }

    /// <summary>The policy in one line, as printed.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"test recall >= {RecallTarget:P2}{(RequireBound ? " with its 95% lower bound" : "")}, AUROC >= {MinAuroc:F2}, specificity >= {MinSpecificity:P0}, vs the deployed model: recall not below it beyond the 95% band, specificity at most {MaxSpecificityDrop * 100:0.#} points lower");
}

/// <summary>The deployed model and the candidate measured on the same test images, ones neither trained on.</summary>
/// <param name="Version">Deployed version.</param>
/// <param name="Deployed">Deployed model at its own threshold, scored with its own ONNX file.</param>
/// <param name="Candidate">Candidate at its threshold on the same images.</param>
/// <param name="Excluded">Candidate test images left out because the deployed model trained (or validated) on them.</param>
/// <param name="SplitKnown">Whether the deployed package recorded its split (else nothing could be excluded).</param>
internal sealed record GateComparison(string Version, BinaryReport Deployed, BinaryReport Candidate, int Excluded, bool SplitKnown);

/// <summary>
/// Decides whether a new classifier replaces the current one, on evidence from the test split at the chosen threshold:
/// (1) test recall reaches the target (the point estimate); (2) AUROC and specificity are above floors, so a model
/// near chance that buys its recall by flagging nearly everything is refused; (3) where a model is deployed, the
/// candidate is not worse on the same images: its recall's 95% upper bound reaches the deployed recall, and its
/// specificity is at most the allowed margin lower. The recall's lower bound is always reported; with
/// <see cref="ClassifierGatePolicy.RequireBound"/> it must reach the target too.
/// </summary>
internal static class QualityGate
{
    /// <summary>Applies the gate; <paramref name="comparison"/> is null when no model is deployed.</summary>
    public static GateDecision Decide(BinaryReport candidate, ClassifierGatePolicy policy, GateComparison? comparison)
    {
        var positives = candidate.Tp + candidate.Fn;
        var checks = new List<GateCheck>
        {
            new("recall", candidate.Recall >= policy.RecallTarget,
                F($"test recall {candidate.Recall:P2} ({candidate.Tp} of {positives}) {(candidate.Recall >= policy.RecallTarget ? ">=" : "is below")} the target {policy.RecallTarget:P2}")),
            BoundCheck(candidate, positives, policy),
            new("auroc", candidate.Auroc >= policy.MinAuroc,
                F($"test AUROC {candidate.Auroc:F4} {(candidate.Auroc >= policy.MinAuroc ? ">=" : "is below")} the floor {policy.MinAuroc:F2}")),
            new("specificity", candidate.Specificity >= policy.MinSpecificity,
                F($"test specificity {candidate.Specificity:P2} ({candidate.Tn} of {candidate.Tn + candidate.Fp} good parts passed) {(candidate.Specificity >= policy.MinSpecificity ? ">=" : "is below")} the floor {policy.MinSpecificity:P2}")),
        };
        if (comparison is { } c)
        {
            var on = F($"on {c.Candidate.Images} test images neither model trained on{(c.SplitKnown ? F($", {c.Excluded} excluded") : ", the deployed package records no split")}");
            var recallOk = c.Candidate.RecallUpperBound >= c.Deployed.Recall;
            checks.Add(new("vs-deployed-recall", recallOk,
                F($"recall {c.Candidate.Recall:P2} (95% upper bound {c.Candidate.RecallUpperBound:P2}) {(recallOk ? "is not below" : "is below")} deployed {c.Version}'s {c.Deployed.Recall:P2} {on}")));
            var specificityOk = c.Candidate.Specificity >= c.Deployed.Specificity - policy.MaxSpecificityDrop;
            checks.Add(new("vs-deployed-specificity", specificityOk,
                F($"specificity {c.Candidate.Specificity:P2} {(specificityOk ? "is within" : "is more than")} {policy.MaxSpecificityDrop * 100:0.#} points {(specificityOk ? "of" : "below")} deployed {c.Version}'s {c.Deployed.Specificity:P2} {on}")));
        }
        else
        {
            checks.Add(new("vs-deployed", true, "no deployed model to compare with"));
        }

        return GateDecision.From(checks, F($"test recall {candidate.Recall:P2} >= target {policy.RecallTarget:P2}, AUROC {candidate.Auroc:F4}, specificity {candidate.Specificity:P2}{(comparison is null ? "; no deployed model" : F($"; not worse than {comparison.Version}"))}"));
    }

    private static GateCheck BoundCheck(BinaryReport candidate, int positives, ClassifierGatePolicy policy)
    {
        var reaches = candidate.RecallLowerBound >= policy.RecallTarget;
        var text = F($"recall 95% lower bound (Clopper-Pearson, {positives} defective test samples) {candidate.RecallLowerBound:P2}");
        if (reaches)
        {
            return new("recall-bound", true, text + F($" >= the target {policy.RecallTarget:P2}"));
        }

        var more = ClopperPearson.MorePositivesNeeded(candidate.Tp, positives, policy.RecallTarget) is { } m
            ? F($"about {m} more defective test samples, all caught, would be needed to show it")
            : "no number of samples can show it";
        return new("recall-bound", !policy.RequireBound, text + F($" is below the target {policy.RecallTarget:P2}: {more}{(policy.RequireBound ? "" : " (reported; --require-bound makes it mandatory)")}"));
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
