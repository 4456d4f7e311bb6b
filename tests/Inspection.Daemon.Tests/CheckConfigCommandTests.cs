using System.Diagnostics;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

public sealed class CheckConfigCommandTests
{
    internal static (int ExitCode, string Stdout, string Stderr) RunDaemon(IDictionary<string, string>? env, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "inspectiond.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "inspectiond check-config did not exit");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Valid_config_prints_effective_settings_with_secrets_masked()
    {
        var (code, stdout, stderr) = RunDaemon(
            new Dictionary<string, string> { ["INSPECTION__Cameras__0__Source"] = "rtsp://op:s3cret@127.0.0.1/cam" },
            "check-config", "--config", Repository.ExampleConfig);

        Assert.Equal(0, code);
        Assert.Contains("config ok", stderr, StringComparison.Ordinal);
        Assert.Contains("rtsp://op:***@127.0.0.1/cam", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_config_exits_78_naming_the_key()
    {
        var (code, _, stderr) = RunDaemon(
            new Dictionary<string, string> { ["INSPECTION__Mqtt__Port"] = "0" },
            "check-config", "--config", Repository.ExampleConfig);

        Assert.Equal(78, code);
        Assert.Contains("config error: Mqtt:Port:", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("check-config")]
    [InlineData("run")]
    [InlineData("inspect", "part.png")]
    [InlineData("bench", "--frames", "5")]
    public void Every_command_that_reads_a_config_exits_78_naming_the_bad_key_and_does_nothing_else(string command, params string[] more)
    {
        var (code, stdout, stderr) = RunDaemon(
            new Dictionary<string, string> { ["INSPECTION__Cameras__0__Fps"] = "5" },
            [command, "--config", Repository.ExampleConfig, .. more]);

        Assert.Equal(78, code);
        Assert.Equal("", stdout);
        Assert.Equal(["config error: Cameras:0:Fps: unknown key 'Fps' (known keys here: Id, Source, MaxFps, Trigger, Roi, StallTimeout, Tampering)"],
            stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
