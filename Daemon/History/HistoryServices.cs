using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.History;

internal static class HistoryServices
{
    /// <summary>The <see cref="ResultHistory"/> (SQLite index of results and snapshots). Registered before the
    /// snapshot writer, so it stops after it: every result and snapshot change is indexed.</summary>
    public static IServiceCollection AddHistory(this IServiceCollection s) =>
        s.AddHostedSingleton<ResultHistory>();
}
