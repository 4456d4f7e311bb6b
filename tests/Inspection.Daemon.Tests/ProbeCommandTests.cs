using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary><c>inspectiond probe</c>, run as a process the way an operator runs it.</summary>
public sealed class ProbeCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new("probe");

    public void Dispose() => _dir.Dispose();

    private static (int ExitCode, string Stdout, string Stderr) Probe(params string[] args) =>
        CheckConfigCommandTests.RunDaemon(null, ["probe", .. args]);

    [RequiresToolFact("ffmpeg")]
    public void Json_report_of_a_video_file_has_its_resolution_and_counts()
    {
        var video = Tools.MakeVideo(_dir.Combine("clip.mp4"), 320, 240, frames: 60);

        var (code, stdout, stderr) = Probe("--source", $"file://{video}", "--frames", "40", "--json");

        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        var root = report.RootElement;
        Assert.Equal(320, root.GetProperty("width").GetInt32());
        Assert.Equal(240, root.GetProperty("height").GetInt32());
        Assert.InRange(root.GetProperty("frames_read").GetInt64(), 40, 60);

        // An unpaced file decodes as fast as it can; on a busy machine it can outrun the reader, and the bounded
        // drop-oldest queue counts what it dropped. Read and dropped never exceed the clip.
        Assert.InRange(root.GetProperty("frames_read").GetInt64() + root.GetProperty("frames_dropped").GetInt64(), 40, 60);
        Assert.Equal(0, root.GetProperty("reconnects").GetInt64());
        Assert.True(root.GetProperty("fps").GetDouble() > 0);
    }

    [Fact]
    public void Text_report_of_the_synthetic_source()
    {
        var (code, stdout, stderr) = Probe("--source", "synthetic://?width=128&height=96&fps=0", "--frames", "25");

        Assert.True(code == 0, stderr);
        Assert.Contains("resolution  128x96", stdout, StringComparison.Ordinal);
        Assert.Matches(@"frames read \d+ \(dropped \d+, reconnects 0\)", stdout);
        Assert.Matches(@"fps         \d+\.\d measured while reading", stdout);
    }

    [Theory]
    [InlineData("file:///nonexistent/clip.mp4", "video file /nonexistent/clip.mp4 does not exist")]
    [InlineData("gopher://camera/1", "unknown source scheme 'gopher'")]
    public void A_source_that_cannot_be_opened_exits_non_zero_naming_it(string uri, string expected)
    {
        var (code, stdout, stderr) = Probe("--source", uri, "--json");

        Assert.Equal(1, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        using var report = JsonDocument.Parse(stdout);
        Assert.Equal(0, report.RootElement.GetProperty("frames_read").GetInt64());
        Assert.Contains(expected, report.RootElement.GetProperty("last_error").GetString(), StringComparison.Ordinal);
    }
}
