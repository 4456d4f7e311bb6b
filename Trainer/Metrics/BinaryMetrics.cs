namespace Inspection.Trainer.Metrics;

/// <summary>Confusion counts of a binary classifier at one threshold (defective = positive).</summary>
internal readonly record struct Confusion(int TruePositive, int FalsePositive, int TrueNegative, int FalseNegative)
{
    /// <summary>Defective samples.</summary>
    public int Positives => TruePositive + FalseNegative;

    /// <summary>Good samples.</summary>
    public int Negatives => TrueNegative + FalsePositive;

    /// <summary>Share of defects caught (0 when there are none).</summary>
    public double Recall => Ratio(TruePositive, Positives);

    /// <summary>Share of alarms that are defects (1 when nothing is flagged: no false alarm was raised).</summary>
    public double Precision => TruePositive + FalsePositive == 0 ? 1 : Ratio(TruePositive, TruePositive + FalsePositive);

    /// <summary>Share of good samples passed.</summary>
    public double Specificity => Ratio(TrueNegative, Negatives);

    /// <summary>Harmonic mean of precision and recall.</summary>
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);

    /// <summary>Share of all samples classified correctly.</summary>
    public double Accuracy => Ratio(TruePositive + TrueNegative, Positives + Negatives);

    /// <summary>Counts scores at or above <paramref name="threshold"/> as defective.</summary>
    public static Confusion At(IReadOnlyList<double> scores, IReadOnlyList<bool> labels, double threshold)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < scores.Count; i++)
        {
            var flagged = scores[i] >= threshold;
            if (labels[i])
            {
                if (flagged) { tp++; } else { fn++; }
            }
            else if (flagged)
            {
                fp++;
            }
            else
            {
                tn++;
            }
        }

        return new Confusion(tp, fp, tn, fn);
    }

    private static double Ratio(int numerator, int denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}

/// <summary>One point of the precision–recall curve: flag every score at or above <see cref="Threshold"/>.</summary>
internal sealed record OperatingPoint(double Threshold, Confusion Counts);

/// <summary>Threshold-free ranking metrics and the operating points of a set of scores.</summary>
internal static class Ranking
{
    /// <summary>
    /// Every distinct threshold (each distinct score, highest first) with its counts. Equal scores are one point:
    /// a threshold cannot separate them.
    /// </summary>
    public static IReadOnlyList<OperatingPoint> Curve(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        Check(scores, labels);
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var positives = labels.Count(l => l);
        var negatives = labels.Count - positives;
        var points = new List<OperatingPoint>();
        int tp = 0, fp = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (labels[order[k]]) { tp++; } else { fp++; }
            if (k == order.Length - 1 || scores[order[k + 1]] != scores[order[k]])
            {
                points.Add(new OperatingPoint(scores[order[k]], new Confusion(tp, fp, negatives - fp, positives - tp)));
            }
        }

        return points;
    }

    /// <summary>Area under the ROC curve (ties count one half): the chance a random defect scores above a random good sample.</summary>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var curve = Curve(scores, labels);
        var positives = labels.Count(l => l);
        var negatives = labels.Count - positives;
        if (positives == 0 || negatives == 0)
        {
            return double.NaN;
        }

        double area = 0, previousTpr = 0, previousFpr = 0;
        foreach (var point in curve)
        {
            var tpr = (double)point.Counts.TruePositive / positives;
            var fpr = (double)point.Counts.FalsePositive / negatives;
            area += (fpr - previousFpr) * (tpr + previousTpr) / 2;
            (previousTpr, previousFpr) = (tpr, fpr);
        }

        return area;
    }

    /// <summary>Average precision: precision at each threshold weighted by the recall it adds (step-wise, no interpolation).</summary>
    public static double AveragePrecision(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var positives = labels.Count(l => l);
        if (positives == 0)
        {
            return double.NaN;
        }

        double ap = 0, previousRecall = 0;
        foreach (var point in Curve(scores, labels))
        {
            ap += (point.Counts.Recall - previousRecall) * point.Counts.Precision;
            previousRecall = point.Counts.Recall;
        }

        return ap;
    }

    /// <summary>The threshold with the highest F1 (ties: the higher threshold).</summary>
    public static OperatingPoint BestF1(IReadOnlyList<double> scores, IReadOnlyList<bool> labels) =>
        Curve(scores, labels).MaxBy(p => (p.Counts.F1, p.Threshold))!;

    private static void Check(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        if (scores.Count != labels.Count)
        {
            throw new ArgumentException($"{scores.Count} scores but {labels.Count} labels");
        }

        if (scores.Any(s => !double.IsFinite(s)))
        {
            throw new ArgumentException("scores contain NaN or infinity");
        }
    }
}
