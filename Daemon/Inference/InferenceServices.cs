using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Inference;

internal static class InferenceServices
{
    /// <summary>The models: <see cref="ModelStore"/> (the live set and the threshold overrides) and the
    /// <see cref="ModelWatcher"/>, which loads them at start, so the daemon does not start without usable ones.</summary>
    public static IServiceCollection AddInference(this IServiceCollection s) =>
        s.AddSingleton<ModelStore>()
            .AddHostedSingleton<ModelWatcher>();
}
