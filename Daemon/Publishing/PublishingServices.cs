using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

internal static class PublishingServices
{
    /// <summary>The broker connection: <see cref="Topics"/>, <see cref="MqttConnection"/> (started, and its first
    /// attempt awaited, by <see cref="MqttService"/>, which says <c>offline</c> when it stops), and the embedded broker
    /// when <c>Mqtt:Embedded</c> is set (started before the client, stopped after it).</summary>
    public static IServiceCollection AddMqtt(this IServiceCollection s, MqttOptions options)
    {
        if (options.Embedded)
        {
            s.AddHostedService(sp => new EmbeddedBroker(options.Host, options.Port, sp.GetRequiredService<ILogger<EmbeddedBroker>>()));
        }

        return s.AddSingleton(new Topics(options))
            .AddSingleton<MqttConnection>()
            .AddHostedService<MqttService>();
    }

    /// <summary>The results' way to the broker: <see cref="ResultPublisher"/> (live, or the disk outbox while the
    /// broker is away, then replayed).</summary>
    public static IServiceCollection AddPublishing(this IServiceCollection s) =>
        s.AddHostedSingleton<ResultPublisher>();

    /// <summary>The periodic <c>stats</c> message (<see cref="StatsPublisher"/>) and the retained <c>models</c> message
    /// (<see cref="ModelsPublisher"/>). The stats sources are listed here in the payload's order (docs/mqtt.md).</summary>
    public static IServiceCollection AddStatusMessages(this IServiceCollection s) =>
        s.AddStatsSource<ModelStore>()
            .AddStatsSource<CameraPipelines>()
            .AddStatsSource<ResultSink>()
            .AddStatsSource<ResultPublisher>()
            .AddStatsSource<ResultJournal>()
            .AddStatsSource<MqttConnection>()
            .AddStatsSource<SnapshotWriter>()
            .AddHostedSingleton<StatsPublisher>()
            .AddHostedSingleton<ModelsPublisher>();

    private static IServiceCollection AddStatsSource<T>(this IServiceCollection s)
        where T : class, IStatsSource =>
        s.AddSingleton<IStatsSource>(sp => sp.GetRequiredService<T>());
}
