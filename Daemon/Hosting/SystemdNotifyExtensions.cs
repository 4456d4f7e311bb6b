using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Inspection.Daemon.Hosting;

/// <summary>Registers the systemd notification pieces: <see cref="SdNotify"/>, <see cref="PipelineHealth"/>, the
/// <see cref="WatchdogService"/>, READY=1 when the host has started (every hosted service's StartAsync is done: for the
/// daemon that means models loaded and the broker tried) and STOPPING=1 on shutdown. Unlike AddSystemd(), which only
/// notifies when its parent process is systemd, this notifies whenever NOTIFY_SOCKET is set, so tests can see it;
/// both together just send READY twice, which systemd ignores.</summary>
internal static class SystemdNotifyExtensions
{
    /// <summary>Adds the services; <paramref name="notify"/> defaults to one built from this process's environment.</summary>
    public static IServiceCollection AddSystemdNotify(this IServiceCollection services, SdNotify? notify = null)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => notify ?? SdNotify.FromEnvironment());
        services.AddSingleton<PipelineHealth>();
        services.AddHostedService<WatchdogService>();
        services.AddHostedService<LifecycleNotifier>();
        return services;
    }

    /// <summary>READY=1 once started; STOPPING=1 as soon as the host starts shutting down, so systemd shows
    /// "deactivating" and waits up to TimeoutStopSec= (which the unit keeps above Pipeline:ShutdownTimeout).</summary>
    private sealed class LifecycleNotifier(SdNotify notify, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() => notify.Ready("started"));
            lifetime.ApplicationStopping.Register(() => notify.Stopping("stopping: draining frames and flushing the outbox"));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
