using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Inspection.Daemon.Hosting;

/// <summary>Registers the systemd notification pieces: <see cref="SdNotify"/>, <see cref="PipelineHealth"/>, the
/// <see cref="WatchdogService"/> and STOPPING=1 on shutdown. READY=1 is the daemon's own call
/// (<see cref="SdNotify.Ready"/>) once models are loaded and the broker connection was attempted.</summary>
public static class SystemdNotifyExtensions
{
    /// <summary>Adds the services; <paramref name="notify"/> defaults to one built from this process's environment.</summary>
    public static IServiceCollection AddSystemdNotify(this IServiceCollection services, SdNotify? notify = null)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => notify ?? SdNotify.FromEnvironment());
        services.AddSingleton<PipelineHealth>();
        services.AddHostedService<WatchdogService>();
        services.AddHostedService<StoppingNotifier>();
        return services;
    }

    /// <summary>Sends STOPPING=1 as soon as the host starts shutting down, so systemd shows "deactivating" and
    /// waits up to TimeoutStopSec= (which the unit keeps above Pipeline:ShutdownTimeout).</summary>
    private sealed class StoppingNotifier(SdNotify notify, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStopping.Register(() => notify.Stopping("stopping: draining frames and flushing the outbox"));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
