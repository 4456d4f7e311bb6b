using Inspection.Daemon.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Commands;

internal static class CommandServices
{
    /// <summary>The <see cref="CommandService"/>: inspect requests and <c>cmd/…</c> commands, answered one at a time,
    /// and the outcome of a watched model reload announced on <c>cmd/reply</c>.</summary>
    public static IServiceCollection AddCommands(this IServiceCollection s) =>
        s.AddHostedSingleton<CommandService>();
}
