using Microsoft.Extensions.Hosting;

namespace Inspection.Daemon.Publishing;

/// <summary>Starts the MQTT connection and waits for its first attempt (readiness means the broker was tried); at
/// stop, after the publisher drained, says <c>offline</c> and disconnects.</summary>
internal sealed class MqttService(MqttConnection connection) : IHostedService
{
    private static readonly TimeSpan FirstAttemptLimit = TimeSpan.FromSeconds(15);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        connection.Start();
        await Task.WhenAny(connection.FirstAttempt, Task.Delay(FirstAttemptLimit, cancellationToken)).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => connection.StopAsync(cancellationToken);
}
