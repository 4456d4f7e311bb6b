using Inspection.Config.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Inspection.Daemon.Hosting;

/// <summary>What every part of the daemon relies on: the options, the clock, systemd integration (READY, STATUS,
/// the watchdog fed by <see cref="PipelineHealth"/>, STOPPING), the shutdown timeout and the thread-pool headroom.</summary>
internal static class HostingServices
{
    public static IServiceCollection AddDaemonHosting(this IServiceCollection s, InspectionOptions options, TimeProvider time)
    {
        s.AddSystemd();
        s.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = options.Pipeline.ShutdownTimeout;
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });

        ThreadPoolHeadroom.Reserve(options.Cameras.Count);
        s.AddSingleton(options);
        s.AddSingleton(options.Mqtt);
        s.AddSingleton(options.Models);
        s.AddSingleton(options.Pipeline);
        s.AddSingleton(options.Outbox);
        s.AddSingleton(options.Snapshots);
        s.AddSingleton(time);

        // READY/STATUS/WATCHDOG/STOPPING over NOTIFY_SOCKET; the watchdog pings only while PipelineHealth sees progress.
        return s.AddSystemdNotify();
    }

    /// <summary>Registers <typeparamref name="T"/> as a singleton (so other parts can reach it) that is also a hosted
    /// service: started in registration order, stopped in reverse.</summary>
    public static IServiceCollection AddHostedSingleton<T>(this IServiceCollection s)
        where T : class, IHostedService =>
        s.AddSingleton<T>().AddHostedService(sp => sp.GetRequiredService<T>());
}
