using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Snapshots;

internal static class SnapshotServices
{
    /// <summary>The <see cref="SnapshotWriter"/>: defect and sampled frames written behind a bounded queue.</summary>
    public static IServiceCollection AddSnapshots(this IServiceCollection s) =>
        s.AddHostedSingleton<SnapshotWriter>();
}
