using Inspection.Daemon.Hosting;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.Hosting;

public sealed class SdNotifyTests
{
    [Fact]
    public async Task Sends_ready_status_watchdog_and_stopping_to_a_socket_file()
    {
        using var dir = new TempDirectory();
        using var systemd = new NotifySocketListener(dir.Combine("notify"));
        using var notify = SdNotify.FromEnvironment(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = systemd.NotifySocket });

        Assert.True(notify.IsEnabled);
        Assert.True(notify.Ready("models loaded"));
        Assert.Equal("READY=1\nSTATUS=models loaded", await systemd.ReceiveAsync());
        Assert.True(notify.Status("2 cameras,\nprovider cpu"));
        Assert.Equal("STATUS=2 cameras, provider cpu", await systemd.ReceiveAsync());
        Assert.True(notify.Watchdog());
        Assert.Equal("WATCHDOG=1", await systemd.ReceiveAsync());
        Assert.True(notify.Stopping());
        Assert.Equal("STOPPING=1", await systemd.ReceiveAsync());
        Assert.True(notify.ExtendTimeout(TimeSpan.FromSeconds(90)));
        Assert.Equal("EXTEND_TIMEOUT_USEC=90000000", await systemd.ReceiveAsync());
    }

    [Fact]
    public async Task Reaches_an_abstract_namespace_socket()
    {
        var name = $"@inspection-test-{Guid.NewGuid():N}";
        using var systemd = new NotifySocketListener(name);
        using var notify = new SdNotify(name);

        Assert.True(notify.Ready());
        Assert.Equal("READY=1", await systemd.ReceiveAsync());
    }

    [Fact]
    public void Is_a_no_op_outside_systemd_and_survives_a_vanished_socket()
    {
        using var outside = SdNotify.FromEnvironment(new Dictionary<string, string?>());
        Assert.False(outside.IsEnabled);
        Assert.False(outside.Ready());
        Assert.Null(outside.WatchdogInterval);

        using var dir = new TempDirectory();
        using var gone = new SdNotify(dir.Combine("no-such-socket"));
        Assert.True(gone.IsEnabled);
        Assert.False(gone.Watchdog());
    }

    [Fact]
    public void Watchdog_interval_comes_from_watchdog_usec_for_this_process_only()
    {
        var pid = Environment.ProcessId;
        Assert.Equal(TimeSpan.FromSeconds(60), SdNotify.ParseWatchdog("60000000", null, pid));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), SdNotify.ParseWatchdog("1500000", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), pid));
        Assert.Null(SdNotify.ParseWatchdog("60000000", (pid + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), pid));
        Assert.Null(SdNotify.ParseWatchdog("0", null, pid));
        Assert.Null(SdNotify.ParseWatchdog("sixty", null, pid));
        Assert.Null(SdNotify.ParseWatchdog(null, null, pid));

        using var notify = SdNotify.FromEnvironment(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = "/run/x", ["WATCHDOG_USEC"] = "30000000" });
        Assert.Equal(TimeSpan.FromSeconds(30), notify.WatchdogInterval);
    }

    [Theory]
    [InlineData("90", 90_000)]
    [InlineData("30s", 30_000)]
    [InlineData("1min 30s", 90_000)]
    [InlineData("2m", 120_000)]
    [InlineData("500ms", 500)]
    [InlineData("1h 1min", 3_660_000)]
    public void Parses_unit_file_time_spans(string text, int milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), SdNotify.ParseTimeSpan(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("30 fortnights")]
    [InlineData("soon")]
    public void Rejects_malformed_time_spans_naming_them(string text)
    {
        var error = Assert.Throws<FormatException>(() => SdNotify.ParseTimeSpan(text));
        Assert.Contains($"'{text}'", error.Message, StringComparison.Ordinal);
    }
}
