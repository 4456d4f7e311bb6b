using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Metrics;

public sealed class QualityGateTests
{
    // Scores: caught defects 0.9, missed 0.1, false alarms 0.8, passed good parts 0.2; threshold 0.5.
    private static BinaryReport Report(int tp, int fn, int fp, int tn) =>
        BinaryReport.From(
            [.. Enumerable.Repeat(0.9, tp), .. Enumerable.Repeat(0.1, fn), .. Enumerable.Repeat(0.8, fp), .. Enumerable.Repeat(0.2, tn)],
            [.. Enumerable.Repeat(true, tp + fn), .. Enumerable.Repeat(false, fp + tn)],
            0.5);

    private static ClassifierGatePolicy Policy(double target = 0.95) => new() { RecallTarget = target };

    [Fact]
    public void A_chance_level_model_that_buys_recall_by_flagging_nearly_everything_is_refused()
    {
        // The issue's case: defects and good parts score alike; a low threshold reaches the recall target.
        var random = new Random(3);
        var scores = Enumerable.Range(0, 400).Select(_ => random.NextDouble()).ToList();
        var labels = Enumerable.Range(0, 400).Select(i => i < 100).ToList();
        var threshold = scores.Take(100).Order().ElementAt(4); // 96 of 100 defects at or above it
        var report = BinaryReport.From(scores, labels, threshold);

        var decision = QualityGate.Decide(report, Policy(0.95), comparison: null);

        Assert.True(report.Recall >= 0.95 && report.Auroc < 0.6 && report.Specificity < 0.15, $"recall {report.Recall}, AUROC {report.Auroc}, specificity {report.Specificity}");
        Assert.False(decision.Pass);
        Assert.Contains(decision.Checks, c => c.Name == "auroc" && !c.Pass);
        Assert.Contains(decision.Checks, c => c.Name == "specificity" && !c.Pass);
        Assert.Contains("AUROC", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Recall_below_the_target_is_refused_even_when_its_upper_bound_reaches_it()
    {
        // 118 of 120 = 98.3%: the old gate passed it for a 99% target because the upper bound is 99.7%.
        var decision = QualityGate.Decide(Report(tp: 118, fn: 2, fp: 30, tn: 250), Policy(0.99), null);

        Assert.False(decision.Pass);
        Assert.Contains("test recall 98.33 % (118 of 120) is below the target 99.00 %", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_better_model_than_the_deployed_one_passes_and_the_lower_bound_is_reported()
    {
        var candidate = Report(tp: 119, fn: 1, fp: 20, tn: 260);
        var comparison = new GateComparison("v1", Deployed: Report(tp: 116, fn: 4, fp: 25, tn: 255), Candidate: candidate, Excluded: 12, SplitKnown: true);

        var decision = QualityGate.Decide(candidate, Policy(0.99), comparison);

        Assert.True(decision.Pass, decision.Lines());
        var bound = decision.Checks.Single(c => c.Name == "recall-bound");
        Assert.True(bound.Pass);
        Assert.Contains("is below the target 99.00 %", bound.Detail, StringComparison.Ordinal);
        Assert.Contains("--require-bound", bound.Detail, StringComparison.Ordinal);
        Assert.Contains(decision.Checks, c => c.Name == "vs-deployed-recall" && c.Pass && c.Detail.Contains("12 excluded", StringComparison.Ordinal));
    }

    [Fact]
    public void Require_bound_refuses_a_recall_the_test_set_cannot_confirm_and_says_how_many_more_defects_it_needs()
    {
        var candidate = Report(tp: 120, fn: 0, fp: 20, tn: 260); // lower bound 97.5% < 99%

        var decision = QualityGate.Decide(candidate, Policy(0.99) with { RequireBound = true }, null);

        Assert.False(decision.Pass);
        Assert.Matches(@"about \d+ more defective test samples, all caught, would be needed", decision.Reason);
        Assert.Equal(ClopperPearson.MorePositivesNeeded(120, 120, 0.99), long.Parse(System.Text.RegularExpressions.Regex.Match(decision.Reason, @"about (\d+) more").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void A_model_worse_than_the_deployed_one_on_the_same_images_is_refused()
    {
        var candidate = Report(tp: 97, fn: 3, fp: 150, tn: 150);    // meets 0.95, but flags half the good parts
        var deployed = Report(tp: 100, fn: 0, fp: 60, tn: 240);
        var comparison = new GateComparison("v1", deployed, candidate, Excluded: 0, SplitKnown: true);

        var decision = QualityGate.Decide(candidate, Policy(0.95), comparison);

        Assert.False(decision.Pass);
        Assert.Contains(decision.Checks, c => c.Name == "vs-deployed-recall" && !c.Pass);   // upper bound of 97/100 is below 100%
        Assert.Contains(decision.Checks, c => c.Name == "vs-deployed-specificity" && !c.Pass); // 50% vs 80%
        Assert.Contains("deployed v1", decision.Reason, StringComparison.Ordinal);
    }

    private static SegmentationMetrics Pixels(long tp, long fp, long fn, long tn) =>
        SegmentationMetrics.From(0.5, [new PixelCounts(tp, fp, fn, tn)]);

    [Fact]
    public void A_segmenter_that_marks_everything_or_nothing_is_refused()
    {
        // 7% of the pixels are defects: marking every pixel gives IoU 0.07 (the issue's case).
        var everything = SegmenterGate.Decide(Pixels(tp: 700, fp: 9300, fn: 0, tn: 0), new SegmenterGatePolicy(), null);
        var nothing = SegmenterGate.Decide(Pixels(tp: 0, fp: 0, fn: 700, tn: 9300), new SegmenterGatePolicy(), null);

        Assert.False(everything.Pass);
        Assert.Contains(everything.Checks, c => c.Name == "marks-not-everything" && !c.Pass);
        Assert.Contains(everything.Checks, c => c.Name == "iou" && !c.Pass);
        Assert.False(nothing.Pass);
        Assert.Contains(nothing.Checks, c => c.Name == "marks-something" && !c.Pass);
        Assert.Contains("pixel recall 0.00 %", nothing.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_good_segmenter_passes_and_one_worse_than_the_deployed_is_refused()
    {
        var good = Pixels(tp: 500, fp: 150, fn: 200, tn: 9150);
        var better = Pixels(tp: 600, fp: 100, fn: 100, tn: 9200);

        var alone = SegmenterGate.Decide(good, new SegmenterGatePolicy(), null);
        var versusBetter = SegmenterGate.Decide(good, new SegmenterGatePolicy(), new SegmenterGateComparison("s1", Deployed: better, Candidate: good, Excluded: 0, SplitKnown: true));
        var versusWorse = SegmenterGate.Decide(better, new SegmenterGatePolicy(), new SegmenterGateComparison("s1", Deployed: good, Candidate: better, Excluded: 0, SplitKnown: true));

        Assert.True(alone.Pass, alone.Lines());
        Assert.False(versusBetter.Pass);
        Assert.Contains("lower than 0.02 of deployed s1's 0.7500", versusBetter.Reason, StringComparison.Ordinal);
        Assert.True(versusWorse.Pass, versusWorse.Lines());
    }
}
