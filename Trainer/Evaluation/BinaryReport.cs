using Inspection.Trainer.Metrics;

namespace Inspection.Trainer.Evaluation;

/// <summary>Classifier metrics on one set of images at one threshold, as <c>trainer eval --json</c> prints them.</summary>
internal sealed record BinaryReport(
    double Threshold, double Recall, double Precision, double Specificity, double F1, double Accuracy, double Auroc, double Ap,
    int Tp, int Fp, int Tn, int Fn, double RecallLowerBound, double RecallUpperBound, int Images)
{
    /// <summary>Computes everything from scores and labels.</summary>
    public static BinaryReport From(IReadOnlyList<double> scores, IReadOnlyList<bool> labels, double threshold)
    {
        var c = Confusion.At(scores, labels, threshold);
        return new BinaryReport(
            threshold, c.Recall, c.Precision, c.Specificity, c.F1, c.Accuracy,
            Ranking.Auroc(scores, labels), Ranking.AveragePrecision(scores, labels),
            c.TruePositive, c.FalsePositive, c.TrueNegative, c.FalseNegative,
            c.Positives == 0 ? 0 : ClopperPearson.Lower(c.TruePositive, c.Positives),
            c.Positives == 0 ? 1 : ClopperPearson.Upper(c.TruePositive, c.Positives),
            scores.Count);
    }

    /// <summary>Name → value for the manifest and <c>metrics.json</c>.</summary>
    public Dictionary<string, double> ToDictionary() => new()
    {
        ["threshold"] = Threshold, ["recall"] = Recall, ["precision"] = Precision, ["specificity"] = Specificity, ["f1"] = F1,
        ["accuracy"] = Accuracy, ["auroc"] = Auroc, ["ap"] = Ap, ["tp"] = Tp, ["fp"] = Fp, ["tn"] = Tn, ["fn"] = Fn,
        ["recall_lower_bound"] = RecallLowerBound, ["recall_upper_bound"] = RecallUpperBound, ["images"] = Images,
    };
}
