using Inspection.Inference.Runtime;

namespace Inspection.Inference.Tests;

public sealed class PercentileTests
{
    [Theory]
    [InlineData(0.50, 5)]
    [InlineData(0.95, 10)]
    [InlineData(0.99, 10)]
    [InlineData(0.10, 1)]
    [InlineData(0.0, 1)]
    [InlineData(1.0, 10)]
    public void Nearest_rank_is_the_smallest_sample_with_that_share_of_samples_at_or_below_it(double quantile, double expected)
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

        Assert.Equal(expected, Percentile.NearestRank(sorted, quantile));
    }

    [Fact]
    public void One_sample_is_every_percentile_and_none_is_an_error()
    {
        Assert.Equal(3.5, Percentile.NearestRank([3.5], 0.99));
        Assert.Throws<ArgumentException>(() => Percentile.NearestRank([], 0.5));
    }
}
