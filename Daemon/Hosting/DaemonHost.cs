using Inspection.Config.Loading;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Commands;
using Inspection.Daemon.Http;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Logging;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Hosting;

/// <summary>The whole daemon composed in one place. Hosted services start in the order below and stop in reverse, which
/// is the shutdown sequence: requests and stats stop, capture stops and queued frames are inspected, the publisher
/// drains to the broker or the outbox, snapshots are written, <c>offline</c> is published, the broker (if embedded) stops.
/// The host counts as started (systemd READY=1 via AddSystemd) once the models are loaded and the broker was tried.</summary>
public static class DaemonHost
{
    public static IHost Build(InspectionOptions options, TimeProvider? time = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (JournalLoggerProvider.UseJournalForProcess())
        {
            // Under systemd: native journal entries with structured fields (journalctl -u inspectiond CAMERA=cam1).
            // Registered by factory, not as an instance, so the host disposes its socket.
            builder.Services.AddSingleton<ILoggerProvider>(_ => JournalLoggerProvider.ForProcess());
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }

        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = options.Pipeline.ShutdownTimeout;
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });

        ThreadPoolHeadroom.Reserve(options.Cameras.Count);
        var s = builder.Services;
        s.AddSingleton(options);
        s.AddSingleton(options.Mqtt);
        s.AddSingleton(options.Models);
        s.AddSingleton(options.Pipeline);
        s.AddSingleton(options.Outbox);
        s.AddSingleton(options.Snapshots);
        s.AddSingleton(time ?? TimeProvider.System);

        // READY/STATUS/WATCHDOG/STOPPING over NOTIFY_SOCKET; the watchdog pings only while PipelineHealth sees progress.
        s.AddSystemdNotify();
        s.AddSingleton(new Topics(options.Mqtt));
        s.AddSingleton<ModelStore>();
        s.AddSingleton<DiskOutbox>();
        s.AddSingleton<SequenceStore>();
        s.AddSingleton<ResultJournal>();
        s.AddSingleton<DeadLetters>();
        s.AddSingleton<ResultSink>();
        s.AddSingleton<MqttConnection>();
        s.AddSingleton<SnapshotWriter>();
        s.AddSingleton<ResultPublisher>();
        s.AddSingleton<CameraPipelines>();
        s.AddSingleton<CommandService>();
        s.AddSingleton<StatsPublisher>();
        s.AddConsoleParts();

        if (options.Mqtt.Embedded)
        {
            s.AddHostedService(sp => new EmbeddedBroker(options.Mqtt.Host, options.Mqtt.Port, sp.GetRequiredService<ILogger<EmbeddedBroker>>()));
        }

        s.AddHostedService<ModelWatcher>();
        s.AddHostedService<MqttService>();
        s.AddHistoryService();
        s.AddHostedService(sp => sp.GetRequiredService<SnapshotWriter>());
        s.AddHostedService(sp => sp.GetRequiredService<ResultPublisher>());
        s.AddHostedService(sp => sp.GetRequiredService<CameraPipelines>());
        s.AddHostedService(sp => sp.GetRequiredService<CommandService>());
        s.AddHostedService(sp => sp.GetRequiredService<StatsPublisher>());
        s.AddConsoleServices();
        return builder.Build();
    }

    /// <summary>Runs until SIGTERM/SIGINT or <paramref name="ct"/>; returns the process exit code (0 after a clean stop,
    /// 78 for configuration problems found at start, 1 for unusable models or a failed worker).</summary>
    public static async Task<int> RunAsync(InspectionOptions options, CancellationToken ct = default, Action<ILoggingBuilder>? logging = null)
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
