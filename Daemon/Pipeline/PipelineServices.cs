using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Pipeline;

internal static class PipelineServices
{
    /// <summary>The cameras: one <see cref="CameraPipeline"/> per configured camera (<see cref="CameraPipelines"/>),
    /// and the <see cref="ResultSink"/> that numbers their results (<see cref="SequenceStore"/>) and queues them.
    /// Stopping them stops capture, inspects the queued frames and closes the sink, so the publisher can drain.</summary>
    public static IServiceCollection AddCameras(this IServiceCollection s) =>
        s.AddSingleton<SequenceStore>()
            .AddSingleton<ResultSink>()
            .AddHostedSingleton<CameraPipelines>();
}
