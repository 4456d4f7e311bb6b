using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Hosting;

/// <summary>A <see cref="BackgroundService"/> whose failure is fatal and visible: it logs, sets a non-zero exit code
/// (a throwing BackgroundService stops the host but the process would still exit 0, dotnet/runtime#67146, and systemd
/// would not restart it) and rethrows.</summary>
internal abstract partial class DaemonWorker(ILogger logger) : BackgroundService
{
    protected ILogger Logger { get; } = logger;

    protected abstract Task RunAsync(CancellationToken stoppingToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Environment.ExitCode = 1;
            LogFatal(Logger, GetType().Name, ex);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Worker} failed; stopping the daemon")]
    private static partial void LogFatal(ILogger logger, string worker, Exception exception);
}
