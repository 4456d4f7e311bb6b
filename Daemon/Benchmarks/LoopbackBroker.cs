using System.Buffers;
using System.Diagnostics;
using System.Net;
using MQTTnet.Server;

namespace Inspection.Daemon.Benchmarks;

/// <summary>An in-process MQTTnet broker on 127.0.0.1 that notes when each camera's result (by its <c>seq</c>) arrives,
/// which ends the publish stage: serialization, the result queue, the publisher, MQTT and the broker's receipt.</summary>
internal sealed class LoopbackBroker : IAsyncDisposable
{
    private static readonly byte[] SeqField = "\"seq\":"u8.ToArray();
    private readonly MqttServer _server;
    private readonly Action<string, long, long> _arrived;
    private readonly string _resultPrefix;
    private long _messages;

    /// <param name="port">Loopback port.</param>
    /// <param name="topicRoot"><c>{prefix}/{device}</c>.</param>
    /// <param name="arrived">Called with (camera, seq, timestamp) for every result message.</param>
    public LoopbackBroker(int port, string topicRoot, Action<string, long, long> arrived)
    {
        Port = port;
        _arrived = arrived;
        _resultPrefix = topicRoot + "/";
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        _server.InterceptingPublishAsync += OnPublish;
    }

    public int Port { get; }

    public long Messages => Interlocked.Read(ref _messages);

    public Task StartAsync() => _server.StartAsync();

    private Task OnPublish(InterceptingPublishEventArgs e)
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _messages);
        var topic = e.ApplicationMessage.Topic;
        if (topic.StartsWith(_resultPrefix, StringComparison.Ordinal) && topic.EndsWith("/result", StringComparison.Ordinal))
        {
            var camera = topic[_resultPrefix.Length..^"/result".Length];
            var seq = FindSeq(e.ApplicationMessage.Payload);
            if (seq > 0)
            {
                _arrived(camera, seq, now);
            }
        }

        return Task.CompletedTask;
    }

    private static long FindSeq(ReadOnlySequence<byte> payload)
    {
        var bytes = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        var at = bytes.IndexOf(SeqField);
        if (at < 0)
        {
            return -1;
        }

        long seq = 0;
        for (var i = at + SeqField.Length; i < bytes.Length && bytes[i] is >= (byte)'0' and <= (byte)'9'; i++)
        {
            seq = (seq * 10) + (bytes[i] - '0');
        }

        return seq;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }
}
