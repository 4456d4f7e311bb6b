using Inspection.Config.Options;
using Inspection.Daemon.Tests.Deployment;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.Hosting;

/// <summary>The <c>inspectiond run</c> process as systemd's Type=notify + WatchdogSec= sees it, on a test NOTIFY_SOCKET.</summary>
public sealed class DaemonNotifyTests
{
    [RequiresToolFact("kill")]
    public async Task Daemon_says_ready_pings_the_watchdog_while_inspecting_and_says_stopping_on_sigterm()
    {
        using var temp = new TempDirectory("daemon-notify");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(temp, broker.Port, new CameraOptions { Id = "cam1", Source = "synthetic://?width=64&height=64&fps=10" });
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        var config = ProcessTests.WriteConfig(daemon);
        using var systemd = new NotifySocketListener(temp.Combine("notify"));

        // What systemd sets for Type=notify with WatchdogSec=2s (WATCHDOG_PID is the daemon's own pid, so it is left out).
        using var process = DaemonProcess.Start(config, new Dictionary<string, string>
        {
            ["NOTIFY_SOCKET"] = systemd.NotifySocket,
            ["WATCHDOG_USEC"] = "2000000",
        });
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var messages = new List<string>();
        try
        {
            // READY once models are loaded and the broker was tried; then WATCHDOG=1 every second with inspections counted.
            while (!messages.Exists(m => m.StartsWith("READY=1", StringComparison.Ordinal)))
            {
                messages.Add(await systemd.ReceiveAsync(TimeSpan.FromSeconds(60)));
            }

            var pings = 0;
            while (pings < 3)
            {
                var message = await systemd.ReceiveAsync(TimeSpan.FromSeconds(30));
                messages.Add(message);
                if (message.StartsWith("WATCHDOG=1\nSTATUS=", StringComparison.Ordinal) && !message.Contains("; 0 done", StringComparison.Ordinal))
                {
                    pings++;
                }
            }
        }
        finally
        {
            DaemonProcess.Terminate(process);
        }

        var stopping = false;
        while (!stopping)
        {
            var message = await systemd.ReceiveAsync(TimeSpan.FromSeconds(30));
            messages.Add(message);
            stopping = message.StartsWith("STOPPING=1", StringComparison.Ordinal);
        }

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after SIGTERM");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{await stdout}{await stderr}\n{string.Join("\n--\n", messages)}");
        Assert.DoesNotContain(messages, m => m.Contains("stalled", StringComparison.Ordinal));
    }
}
