using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace Inspection.Daemon.Publishing;

/// <summary>An in-process MQTT broker (MQTTnet.Server) for the demo and tests (Mqtt:Embedded).</summary>
public sealed partial class EmbeddedBroker(string host, int port, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
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
        await _server.StartAsync().ConfigureAwait(false);
        LogStarted(logger, address.ToString(), port);
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
    private static partial void LogStarted(ILogger logger, string address, int port);
}
