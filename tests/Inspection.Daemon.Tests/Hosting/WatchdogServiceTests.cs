using Inspection.Daemon.Hosting;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Inspection.Daemon.Tests.Hosting;

/// <summary>The watchdog against a test NOTIFY_SOCKET, with WatchdogSec=10s (so one check every 5 s of fake time).</summary>
public sealed class WatchdogServiceTests : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private readonly TempDirectory _dir = new();
    private readonly NotifySocketListener _systemd;
    private readonly SdNotify _notify;
    private readonly FakeTimeProvider _time = new();
    private readonly PipelineHealth _health;

    public WatchdogServiceTests()
    {
        _systemd = new NotifySocketListener(_dir.Combine("notify"));
        _notify = SdNotify.FromEnvironment(new Dictionary<string, string?>
        {
            ["NOTIFY_SOCKET"] = _systemd.NotifySocket,
            ["WATCHDOG_USEC"] = "10000000",
            ["WATCHDOG_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _health = new PipelineHealth(_time);
    }

    [Fact]
    public async Task Pings_at_half_the_interval_with_a_status_line_while_frames_are_inspected()
    {
        var queued = 1;
        _health.AddPendingSource("frames cam1", () => queued);
        using var service = await StartAsync();

        Assert.Equal("WATCHDOG=1\nSTATUS=inspecting; 0 done, last just now", await _systemd.ReceiveAsync());
        for (var i = 1; i <= 6; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(3));
            _health.MarkProgress();
            _time.Advance(TimeSpan.FromSeconds(2));
            var message = await _systemd.ReceiveAsync();
            Assert.StartsWith("WATCHDOG=1\nSTATUS=inspecting; ", message, StringComparison.Ordinal);
            Assert.Contains($"; {i} done, last 2s ago", message, StringComparison.Ordinal);
        }

        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Withholds_pings_while_work_waits_and_nothing_finishes_then_resumes_on_progress()
    {
        _health.AddPendingSource("frames cam1", () => 2);
        using var service = await StartAsync();

        // t = 0, 5 and 10 s: the stall limit (WatchdogSec, 10 s) is not exceeded yet.
        Assert.StartsWith("WATCHDOG=1\n", await _systemd.ReceiveAsync(), StringComparison.Ordinal);
        Assert.StartsWith("WATCHDOG=1\n", await TickAsync(), StringComparison.Ordinal);
        Assert.StartsWith("WATCHDOG=1\n", await TickAsync(), StringComparison.Ordinal);

        // t = 15 … 40 s: stalled. Only STATUS, never WATCHDOG=1, so systemd's timer runs out and it restarts the daemon.
        for (var i = 0; i < 6; i++)
        {
            var message = await TickAsync();
            Assert.StartsWith("STATUS=stalled: 2 queued, 0 in flight, nothing finished for ", message, StringComparison.Ordinal);
            Assert.DoesNotContain("WATCHDOG=1", message, StringComparison.Ordinal);
        }

        _health.MarkProgress();
        Assert.StartsWith("WATCHDOG=1\nSTATUS=inspecting; 1 done", await TickAsync(), StringComparison.Ordinal);
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Keeps_pinging_when_idle_however_long_nothing_happens()
    {
        var queued = 0;
        _health.AddPendingSource("frames cam1", () => queued);
        using var service = await StartAsync();
        Assert.StartsWith("WATCHDOG=1\nSTATUS=idle, waiting for frames or requests", await _systemd.ReceiveAsync(), StringComparison.Ordinal);

        // A trigger-mode line with no requests for an hour: healthy.
        for (var i = 0; i < 720; i++)
        {
            Assert.StartsWith("WATCHDOG=1\nSTATUS=idle", await TickAsync(), StringComparison.Ordinal);
        }

        // Work arriving after the long idle spell gets a full stall limit, not an instant verdict.
        queued = 1;
        Assert.StartsWith("WATCHDOG=1\nSTATUS=inspecting", await TickAsync(), StringComparison.Ordinal);
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_item_stuck_in_flight_is_a_stall()
    {
        using var service = await StartAsync();
        Assert.StartsWith("WATCHDOG=1\n", await _systemd.ReceiveAsync(), StringComparison.Ordinal);

        // An inspection that never returns (e.g. a hung inference call) with nothing queued behind it.
        using (_health.BeginWork())
        {
            Assert.StartsWith("WATCHDOG=1\n", await TickAsync(), StringComparison.Ordinal);
            Assert.StartsWith("WATCHDOG=1\n", await TickAsync(), StringComparison.Ordinal);
            Assert.StartsWith("WATCHDOG=1\n", await TickAsync(), StringComparison.Ordinal);
            Assert.StartsWith("STATUS=stalled: 0 queued, 1 in flight", await TickAsync(), StringComparison.Ordinal);
        }

        Assert.StartsWith("WATCHDOG=1\nSTATUS=idle", await TickAsync(), StringComparison.Ordinal);
        await service.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Host_sends_ready_once_started_and_stopping_on_shutdown()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddSystemdNotify(_notify);
        using var host = builder.Build();
        await host.StartAsync();
        // The watchdog's first check runs on its own thread, so it may come before or after READY.
        var first = new[] { await _systemd.ReceiveAsync(), await _systemd.ReceiveAsync() };
        Assert.Contains("READY=1\nSTATUS=started", first);
        Assert.Contains(first, m => m.StartsWith("WATCHDOG=1\n", StringComparison.Ordinal));

        await host.StopAsync();
        Assert.Equal("STOPPING=1\nSTATUS=stopping: draining frames and flushing the outbox", await _systemd.ReceiveAsync());
    }

    [Fact]
    public async Task Does_nothing_outside_systemd()
    {
        using var outside = new SdNotify(null);
        using var service = new WatchdogService(outside, _health, _time, NullLogger<WatchdogService>.Instance);
        await service.StartAsync(CancellationToken.None);
        await service.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(service.ExecuteTask.IsCompletedSuccessfully);
    }

    public void Dispose()
    {
        _notify.Dispose();
        _systemd.Dispose();
        _dir.Dispose();
    }

    private async Task<WatchdogService> StartAsync()
    {
        var service = new WatchdogService(_notify, _health, _time, NullLogger<WatchdogService>.Instance);
        await service.StartAsync(CancellationToken.None);
        return service;
    }

    private Task<string> TickAsync()
    {
        _time.Advance(Period);
        return _systemd.ReceiveAsync();
    }
}
