using Inspection.Config.Processes;

namespace Inspection.Config.Tests;

/// <summary>The one reader of /proc's stat lines (the bench's thread CPU, the trainer's page faults, the tests' ffmpeg
/// children).</summary>
public sealed class ProcStatTests
{
    [Fact]
    public void A_stat_line_gives_name_parent_minor_faults_and_cpu_time_even_when_the_name_holds_spaces_and_parentheses()
    {
        var stat = ProcStat.Parse("4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 30 0 123 456 789\n");

        Assert.Equal("a (b) c", stat.Name);
        Assert.Equal(17, stat.ParentId);
        Assert.Equal(100, stat.MinorFaults);
        Assert.Equal((37, 5), (stat.UserTicks, stat.SystemTicks));
        Assert.Equal(420, stat.CpuMs); // (37 + 5) ticks of 10 ms
    }

    [Theory]
    [InlineData("")]
    [InlineData("4242 (name")]
    [InlineData("4242 (name) S 1 2 3")]
    public void A_line_that_is_not_a_stat_line_is_refused_showing_it(string line)
    {
        var ex = Assert.Throws<FormatException>(() => ProcStat.Parse(line));
        Assert.Contains($"'{line}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void This_process_reads_as_itself_and_a_missing_one_as_null()
    {
        var self = ProcStat.TryRead($"/proc/{Environment.ProcessId}");

        Assert.NotNull(self);
        Assert.Equal(ProcStat.TryRead("/proc/self")!.ParentId, self.ParentId);
        Assert.True(self.MinorFaults > 0 && self.CpuMs >= 0, $"{self}");
        Assert.Null(ProcStat.TryRead(Path.Combine(Path.GetTempPath(), "no-such-process")));
    }
}
