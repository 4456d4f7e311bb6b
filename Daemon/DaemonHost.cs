using Inspection.Config.Loading;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Commands;
using Inspection.Daemon.History;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Http;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Logging;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Inspection.Daemon.Tampering;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon;

/// <summary>The composition root: each part of the daemon registers itself with one extension in its own folder, and
/// this calls them. Hosted services start in the order below and stop in reverse, which is the shutdown sequence:
/// tampering checks, stats and requests stop, capture stops and queued frames are inspected, the publisher drains to the
/// broker or the outbox, snapshots are written and indexed, <c>offline</c> is published, the broker (if embedded)
/// stops. The host counts as started (systemd READY=1) once the models are loaded and the broker was tried.</summary>
internal static class DaemonHost
{
    public static IHost Build(InspectionOptions options, TimeProvider? time = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.AddDaemonLogging();
        logging?.Invoke(builder.Logging);
        builder.Services
            .AddDaemonHosting(options, time ?? TimeProvider.System)
            .AddInference()                 // models loaded before anything else starts
            .AddMqtt(options.Mqtt)          // (embedded broker,) client connected, first attempt awaited
            .AddOutbox()
            .AddHistory()
            .AddSnapshots()
            .AddPublishing()                // drains the result queue after the cameras stopped
            .AddCameras()
            .AddCommands()
            .AddStatusMessages()
            .AddTampering()
            .AddConsole();
        return builder.Build();
    }

    /// <summary>Runs until SIGTERM/SIGINT or <paramref name="ct"/>; returns the process exit code (0 after a clean stop,
    /// 78 for configuration problems found at start, 1 for unusable models or a failed worker).</summary>
    public static async Task<int> RunAsync(InspectionOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken ct = default)
    {
        IHost host;
        try
        {
            host = Build(options, logging: logging);
        }
        catch (ConfigException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return ConfigException.ExitCode;
        }

        using (host)
        {
            try
            {
                await host.RunAsync(ct).ConfigureAwait(false);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return ConfigException.ExitCode;
            }
            catch (ModelPackageException ex)
            {
                await Console.Error.WriteLineAsync($"inspectiond: cannot start: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await Console.Error.WriteLineAsync($"inspectiond: stopped by an error: {ex.Message}").ConfigureAwait(false);
                return Environment.ExitCode == 0 ? 1 : Environment.ExitCode;
            }
        }

        return Environment.ExitCode;
    }
}
