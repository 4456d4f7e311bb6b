using Inspection.Config.Retry;

namespace Inspection.Config.Tests;

public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Min = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(1, 500)]
    [InlineData(2, 1000)]
    [InlineData(3, 2000)]
    [InlineData(7, 30_000)]
    [InlineData(1000, 30_000)]
    public void The_delay_doubles_per_failure_up_to_the_maximum_with_up_to_half_of_it_random(int failures, double cappedMs)
    {
        var random = new Random(7);
        var delays = Enumerable.Range(0, 200).Select(_ => ReconnectBackoff.Delay(Min, Max, failures, random).TotalMilliseconds).ToList();

        Assert.All(delays, d => Assert.InRange(d, cappedMs / 2, cappedMs));
        Assert.True(delays.Max() - delays.Min() > cappedMs / 4, "the jitter spreads the delays over the upper half");
    }
}
