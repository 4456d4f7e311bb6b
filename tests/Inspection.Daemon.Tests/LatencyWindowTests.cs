using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Tests;

public sealed class LatencyWindowTests
{
    [Fact]
    public void Stats_percentiles_are_nearest_rank_over_the_last_frames()
    {
        var window = new LatencyWindow();
        for (var ms = 10; ms >= 1; ms--)
        {
            window.Add(new StageLatency(ms, ms, ms, ms, ms));
        }

        var total = window.Percentiles()["total"];

        // Ten samples 1..10: the median is 5, and p99 is the largest sample (a slowest frame is never averaged away).
        Assert.Equal((5.0, 10.0), (total["p50"], total["p99"]));
    }
}
