using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Hosting;

/// <summary>
/// Pings systemd's watchdog (WATCHDOG=1, at half of WatchdogSec=) only while <see cref="PipelineHealth"/> says the
/// pipeline is healthy, and sends a STATUS= line with each check. A stalled pipeline stops the pings, so systemd kills
/// and restarts the daemon after WatchdogSec=; a frozen process (thread pool starved, runtime hung) stops them too,
/// because this loop no longer runs. The stall limit is WatchdogSec= itself: a stall is noticed after at most one
/// limit plus half an interval, and the restart follows within one more WatchdogSec=.
/// Without a watchdog (no WATCHDOG_USEC) but under systemd it still updates STATUS= every <see cref="StatusOnlyPeriod"/>;
/// outside systemd it does nothing.
/// </summary>
internal sealed partial class WatchdogService(SdNotify notify, PipelineHealth health, TimeProvider time, ILogger<WatchdogService> logger)
    : BackgroundService
{
    /// <summary>How often STATUS= is refreshed when the unit has no WatchdogSec=.</summary>
    public static readonly TimeSpan StatusOnlyPeriod = TimeSpan.FromSeconds(10);

    /// <summary>Stall limit used for STATUS= when the unit has no watchdog.</summary>
    public static readonly TimeSpan DefaultStallLimit = TimeSpan.FromSeconds(60);

    private HealthState? _lastState;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!notify.IsEnabled)
        {
            return;
        }

        var watchdog = notify.WatchdogInterval;
        var period = watchdog is { } w ? w / 2 : StatusOnlyPeriod;
        var stallLimit = watchdog ?? DefaultStallLimit;
        if (watchdog is { } interval)
        {
            LogWatchdogOn(logger, interval.TotalSeconds, period.TotalSeconds);
        }

        using var timer = new PeriodicTimer(period, time);
        do
        {
            var report = health.Check(stallLimit);
            if (report.State != _lastState)
            {
                if (report.State == HealthState.Stalled)
                {
                    LogStalled(logger, report.Summary);
                }
                else if (_lastState == HealthState.Stalled)
                {
                    LogRecovered(logger, report.Summary);
                }

                _lastState = report.State;
            }

            if (watchdog is not null && report.Healthy)
            {
                notify.Watchdog(report.Summary);
            }
            else
            {
                notify.Status(report.Summary);
            }
        }
        while (await WaitAsync(timer, stoppingToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken token)
    {
        try
        {
            return await timer.WaitForNextTickAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "systemd watchdog on: WatchdogSec={WatchdogSeconds}s, pinging every {PeriodSeconds}s while the pipeline makes progress")]
    private static partial void LogWatchdogOn(ILogger logger, double watchdogSeconds, double periodSeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "pipeline stalled, watchdog pings withheld so systemd restarts the daemon: {Summary}")]
    private static partial void LogStalled(ILogger logger, string summary);

    [LoggerMessage(Level = LogLevel.Warning, Message = "pipeline progressing again, watchdog pings resumed: {Summary}")]
    private static partial void LogRecovered(ILogger logger, string summary);
}
