using Inspection.Daemon.History;
using Inspection.Daemon.Review;
using Inspection.Daemon.Tampering;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Http;

/// <summary>Registers the operator console's parts. They hook into the pipeline only through <c>ResultSink.Numbered</c>
/// and <c>AlarmOf</c>, and <c>SnapshotWriter.Saved</c>, <c>Removing</c> and <c>ReviewReason</c>.</summary>
public static class ConsoleServices
{
    public static IServiceCollection AddConsoleParts(this IServiceCollection s)
    {
        s.AddSingleton<DaemonMetrics>();
        s.AddSingleton<ResultHistory>();
        s.AddSingleton<ReviewQueue>();
        s.AddSingleton<TamperWatch>();
        s.AddSingleton<ConsoleServer>();
        return s;
    }

    /// <summary>Registered before the snapshot writer, so it stops after it: every result and snapshot change is indexed.</summary>
    public static IServiceCollection AddHistoryService(this IServiceCollection s) =>
        s.AddHostedService(sp => sp.GetRequiredService<ResultHistory>());

    /// <summary>Registered last, so the server stops first and tampering checks stop before capture.</summary>
    public static IServiceCollection AddConsoleServices(this IServiceCollection s) =>
        s.AddHostedService(sp => sp.GetRequiredService<TamperWatch>()).AddHostedService(sp => sp.GetRequiredService<ConsoleServer>());
}
