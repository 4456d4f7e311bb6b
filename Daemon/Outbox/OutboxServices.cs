using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Outbox;

internal static class OutboxServices
{
    /// <summary>Where results wait: the <see cref="ResultJournal"/> (every numbered result until it is through), the
    /// <see cref="DiskOutbox"/> (while the broker is away) and the <see cref="DeadLetters"/> (refused for good).</summary>
    public static IServiceCollection AddOutbox(this IServiceCollection s) =>
        s.AddSingleton<ResultJournal>()
            .AddSingleton<DiskOutbox>()
            .AddSingleton<DeadLetters>();
}
