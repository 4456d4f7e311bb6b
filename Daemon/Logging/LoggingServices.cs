using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Logging;

/// <summary>The daemon's logging: native journal entries under systemd, single-line UTC console lines otherwise.</summary>
internal static class LoggingServices
{
    public static ILoggingBuilder AddDaemonLogging(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        if (JournalLoggerProvider.UseJournalForProcess())
        {
            // Under systemd: native journal entries with structured fields (journalctl -u inspectiond CAMERA=cam1).
            // Registered by factory, not as an instance, so the host disposes its socket.
            logging.Services.AddSingleton<ILoggerProvider>(_ => JournalLoggerProvider.ForProcess());
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }

        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        return logging;
    }
}
