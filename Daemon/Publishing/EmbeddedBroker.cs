using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace Inspection.Daemon.Publishing;

/// <summary>An in-process MQTT broker (MQTTnet.Server) for the demo and tests (Mqtt:Embedded).</summary>
internal sealed partial class EmbeddedBroker(string host, int port, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private MqttServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var address = host is "localhost" ? IPAddress.Loopback : IPAddress.Parse(host);
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(address)
            .WithDefaultEndpointPort(port)
            .Build());

        // MQTT 5 clients that send no client id (mosquitto_sub/pub by default) get one assigned. MQTTnet refuses an
        // empty id from MQTT 3.1.1 clients whatever the handler does, so the demo's hints use -V mqttv5.
        _server.ValidatingConnectionAsync += e =>
        {
            if (string.IsNullOrEmpty(e.ClientId))
            {
                e.AssignedClientIdentifier = $"anonymous-{Guid.NewGuid():N}";
            }

            return Task.CompletedTask;
        };
        await _server.StartAsync().ConfigureAwait(false);
        LogStarted(logger, address, port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => _server?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "embedded MQTT broker listening on {Address}:{Port}")]
    private static partial void LogStarted(ILogger logger, System.Net.IPAddress address, int port);
}
