using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Tampering;

internal static class TamperingServices
{
    /// <summary>The <see cref="TamperWatch"/>: per-camera checks for a covered, moved or defocused camera. Registered
    /// after the cameras, so its checks stop before capture does.</summary>
    public static IServiceCollection AddTampering(this IServiceCollection s) =>
        s.AddHostedSingleton<TamperWatch>();
}
