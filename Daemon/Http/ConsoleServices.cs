using Inspection.Daemon.Hosting;
using Inspection.Daemon.Review;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Http;

internal static class ConsoleServices
{
    /// <summary>The operator console (<see cref="ConsoleServer"/>: page, JSON API, <c>/metrics</c> from
    /// <see cref="DaemonMetrics"/>) and the <see cref="ReviewQueue"/> it labels. Registered last, so the server stops
    /// first. Its parts hook into the pipeline only through <c>ResultSink.Numbered</c> and <c>AlarmOf</c>, and
    /// <c>SnapshotWriter.Saved</c>, <c>Removing</c> and <c>ReviewReason</c>.</summary>
    public static IServiceCollection AddConsole(this IServiceCollection s) =>
        s.AddSingleton<ReviewQueue>()
            .AddSingleton<DaemonMetrics>()
            .AddHostedSingleton<ConsoleServer>();
}
