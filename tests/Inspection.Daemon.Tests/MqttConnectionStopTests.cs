using Inspection.Config.Options;
using Inspection.Daemon.Publishing;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

public sealed class MqttConnectionStopTests
{
    // Seen on a loaded machine: the host's stop token expired while the daemon said "offline", the cancellation escaped
    // MqttConnection.StopAsync and failed the whole host stop.
    [Fact]
    public async Task A_shutdown_deadline_that_has_passed_drops_the_connection_without_failing_the_stop()
    {
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var options = new MqttOptions { Host = "127.0.0.1", Port = broker.Port, Device = "dev1", ClientId = "dev1-stop-deadline" };
        var logger = new ListLogger<MqttConnection>();
        await using var connection = new MqttConnection(options, new Topics(options), TimeProvider.System, logger);
        connection.Start();
        await connection.FirstAttempt.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(connection.IsConnected);
        using var deadline = new CancellationTokenSource();
        await deadline.CancelAsync();

        await connection.StopAsync(deadline.Token);

        Assert.Contains("the shutdown deadline passed", logger.Text, StringComparison.Ordinal);
    }
}
