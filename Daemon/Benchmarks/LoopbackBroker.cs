using System.Diagnostics;
using System.Net;
using MQTTnet.Server;

namespace Inspection.Daemon.Benchmarks;

/// <summary>An in-process MQTTnet broker on 127.0.0.1 that notes when each camera's result (by its <c>seq</c>) arrives,
/// which ends the publish stage: serialization, the result queue, the publisher, MQTT and the broker's receipt.</summary>
internal sealed class LoopbackBroker : IBenchBroker
{
    private readonly MqttServer _server;
    private readonly Action<string, long, long> _arrived;
    private readonly ResultMessages _results;
    private long _messages;

    /// <param name="port">Loopback port.</param>
    /// <param name="topicRoot"><c>{prefix}/{device}</c>.</param>
    /// <param name="arrived">Called with (camera, seq, timestamp) for every result message.</param>
    public LoopbackBroker(int port, string topicRoot, Action<string, long, long> arrived)
    {
        Port = port;
        _arrived = arrived;
        _results = new ResultMessages(topicRoot);
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        _server.InterceptingPublishAsync += OnPublish;
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public IReadOnlyDictionary<string, int> OutsideProcesses { get; } = new Dictionary<string, int>();

    public long Messages => Interlocked.Read(ref _messages);

    public Task StartAsync() => _server.StartAsync();

    private Task OnPublish(InterceptingPublishEventArgs e)
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _messages);
        if (_results.Camera(e.ApplicationMessage.Topic) is { } camera && ResultMessages.Seq(e.ApplicationMessage.Payload) is > 0 and var seq)
        {
            _arrived(camera, seq, now);
        }

        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }
}
