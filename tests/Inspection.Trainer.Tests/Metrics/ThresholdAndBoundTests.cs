using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Metrics;

public sealed class ThresholdAndBoundTests
{
    // Reference values: exact binomial tail inverted by bisection (independent of the incomplete-beta code under test).
    [Theory]
    [InlineData(99, 100, 0.953440188546461)]
    [InlineData(15, 20, 0.5444175959982511)]
    [InlineData(10, 10, 0.7411344491069477)] // = 0.05^(1/10)
    [InlineData(1, 10, 0.0051161968918237025)]
    [InlineData(120, 123, 0.9381710450219914)]
    public void Clopper_pearson_lower_bound_matches_the_exact_binomial(long caught, long positives, double expected)
    {
        Assert.Equal(expected, ClopperPearson.Lower(caught, positives), 8);
    }

    [Fact]
    public void Clopper_pearson_edges_and_upper_bound()
    {
        Assert.Equal(0, ClopperPearson.Lower(0, 10));
        Assert.Equal(1, ClopperPearson.Upper(10, 10));
        Assert.Equal(0.2588655508930524, ClopperPearson.Upper(0, 10), 8);
        Assert.Equal(0.9632285621125349, ClopperPearson.Upper(8, 10), 8);
        Assert.Throws<ArgumentException>(() => ClopperPearson.Lower(11, 10));
    }

    [Fact]
    public void More_positives_needed_is_the_smallest_count_that_lifts_the_bound()
    {
        // 0.05^(1/n) >= 0.99 needs n >= 298.07, so 123 caught of 123 need 299 - 123 = 176 more.
        Assert.Equal(176, ClopperPearson.MorePositivesNeeded(123, 123, 0.99));
        Assert.Equal(0, ClopperPearson.MorePositivesNeeded(299, 299, 0.99));
        var withMisses = ClopperPearson.MorePositivesNeeded(120, 123, 0.95)!.Value;
        Assert.True(ClopperPearson.Lower(120 + withMisses, 123 + withMisses) >= 0.95);
        Assert.True(ClopperPearson.Lower(120 + withMisses - 1, 123 + withMisses - 1) < 0.95);
    }

    [Fact]
    public void Threshold_is_the_highest_score_that_reaches_the_recall_target()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        bool[] labels = [true, true, false, true, false, false];

        var twoThirds = ThresholdSelection.ForRecall(scores, labels, 0.66);
        var all = ThresholdSelection.ForRecall(scores, labels, 0.9);

        Assert.Equal(0.8, twoThirds.Threshold);
        Assert.Equal(new Confusion(2, 0, 3, 1), twoThirds.Counts);
        Assert.Equal(0.6, all.Threshold);
        Assert.Equal(new Confusion(3, 1, 2, 0), all.Counts);
        Assert.Equal(0.75, all.Counts.Precision);
        Assert.Equal(2.0 / 3, all.Counts.Specificity, 12);
    }

    [Fact]
    public void Tied_scores_are_flagged_together()
    {
        double[] scores = [0.9, 0.5, 0.5, 0.5, 0.1];
        bool[] labels = [true, true, false, false, false];

        var choice = ThresholdSelection.ForRecall(scores, labels, 0.99);

        Assert.Equal(0.5, choice.Threshold);
        Assert.Equal(new Confusion(2, 2, 1, 0), choice.Counts); // both good samples tied at 0.5 are flagged with the defect
        Assert.Equal(3, Ranking.Curve(scores, labels).Count);
    }

    [Fact]
    public void Too_few_positives_are_reported_with_how_many_more_are_needed()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.2, 0.1];
        bool[] labels = [true, true, true, false, false];

        var choice = ThresholdSelection.ForRecall(scores, labels, 0.99);

        Assert.Equal(1.0, choice.Counts.Recall);
        Assert.Equal(Math.Pow(0.05, 1.0 / 3), choice.RecallLowerBound, 8);
        Assert.False(choice.BoundReachesTarget);
        Assert.Equal(296, choice.MorePositivesNeeded); // 3 + 296 = 299 >= 298.07
        Assert.Contains("too few", choice.Evidence(), StringComparison.Ordinal);
        Assert.Contains("296 more defective", choice.Evidence(), StringComparison.Ordinal);
    }

    [Fact]
    public void No_positives_or_a_target_outside_zero_one_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ThresholdSelection.ForRecall([0.1, 0.2], [false, false], 0.9));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThresholdSelection.ForRecall([0.1, 0.2], [true, false], 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThresholdSelection.ForRecall([0.1, 0.2], [true, false], 0));
    }

    [Fact]
    public void Auroc_and_average_precision_on_known_rankings()
    {
        bool[] labels = [true, true, false, false];
        Assert.Equal(1.0, Ranking.Auroc([0.9, 0.8, 0.2, 0.1], labels));
        Assert.Equal(0.0, Ranking.Auroc([0.1, 0.2, 0.8, 0.9], labels));
        Assert.Equal(0.5, Ranking.Auroc([0.5, 0.5, 0.5, 0.5], labels));
        Assert.Equal(1.0, Ranking.AveragePrecision([0.9, 0.8, 0.2, 0.1], labels));
        // ranking d, g, d, g: precision 1 at recall 1/2, 2/3 at recall 1
        Assert.Equal((0.5 * 1) + (0.5 * 2.0 / 3), Ranking.AveragePrecision([0.9, 0.8, 0.7, 0.1], [true, false, true, false]), 12);
    }
}
