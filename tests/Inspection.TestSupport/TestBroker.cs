using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Inspection.TestSupport;

/// <summary>An in-process MQTTnet broker on a loopback port that a test can stop and start again.</summary>
public sealed class TestBroker : IAsyncDisposable
{
    private MqttServer? _server;

    public TestBroker(int? port = null) => Port = port ?? Tools.FreePort();

    public int Port { get; }

    /// <summary>Every message any client published to this broker, across restarts, in arrival order.</summary>
    public ConcurrentQueue<(string Topic, byte[] Payload)> Received { get; } = new();

    public IEnumerable<JsonElement> ReceivedJson(string topic) =>
        Received.Where(m => m.Topic == topic).Select(m => JsonDocument.Parse(m.Payload).RootElement.Clone());

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "_server is null here: before the first start, and after StopAsync, which disposes it.")]
    public async Task StartAsync()
    {
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(Port).Build());
        _server.InterceptingPublishAsync += e =>
        {
            Received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
        await _server.StartAsync();
    }

    /// <summary>Waits until <paramref name="count"/> messages on <paramref name="topic"/> reached the broker.</summary>
    public async Task<List<JsonElement>> WaitForAsync(string topic, int count, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            var found = ReceivedJson(topic).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"waited {seconds} s for {count} messages on {topic}; got {ReceivedJson(topic).Count()}");
    }

    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
            _server = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

/// <summary>A consumer: subscribes to a filter and records every message, with waits that fail with what arrived.</summary>
public sealed class MqttProbe : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly ConcurrentQueue<MqttApplicationMessage> _messages = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private MqttClientOptions? _options;

    private MqttProbe()
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            _messages.Enqueue(e.ApplicationMessage);
            _arrived.Release();
            return Task.CompletedTask;
        };
    }

    public IReadOnlyList<MqttApplicationMessage> Messages => [.. _messages];

    public static async Task<MqttProbe> ConnectAsync(int port, string filter = "#", string? clientId = null, bool persistent = false)
    {
        var probe = new MqttProbe();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).WithClientId(clientId ?? "probe-" + Guid.NewGuid().ToString("N")[..8]);
        if (persistent)
        {
            // A persistent subscriber: the broker keeps its subscription and queues QoS 1 messages while it is away.
            options.WithCleanStart(false).WithSessionExpiryInterval(3600);
        }

        probe._options = options.Build();
        await probe._client.ConnectAsync(probe._options);
        await probe._client.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        return probe;
    }

    /// <summary>Connects again with the same options (after a broker restart), retrying for up to 30 s.</summary>
    public async Task ReconnectAsync()
    {
        for (var attempt = 0; !_client.IsConnected; attempt++)
        {
            try
            {
                await _client.ConnectAsync(_options!);
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException) when (attempt < 300)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Distinct results (by id) on <paramref name="topic"/>, and how many arrived more than once.</summary>
    public (List<JsonElement> Results, int Duplicates) DistinctResults(string topic)
    {
        var all = On(topic).Select(Json).ToList();
        var distinct = all.DistinctBy(r => r.GetProperty("id").GetString()).ToList();
        return (distinct, all.Count - distinct.Count);
    }

    public Task PublishAsync(string topic, string payload, string? responseTopic = null, byte[]? correlation = null, bool retain = false)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain);
        if (responseTopic is not null)
        {
            builder.WithResponseTopic(responseTopic);
        }

        if (correlation is not null)
        {
            builder.WithCorrelationData(correlation);
        }

        return _client.PublishAsync(builder.Build());
    }

    public IEnumerable<MqttApplicationMessage> On(string topic) => _messages.Where(m => m.Topic == topic);

    public static string Text(MqttApplicationMessage m) => m.ConvertPayloadToString();

    public static JsonElement Json(MqttApplicationMessage m) => JsonDocument.Parse(m.ConvertPayloadToString()).RootElement.Clone();

    /// <summary>Waits until <paramref name="count"/> messages on <paramref name="topic"/> satisfy <paramref name="match"/>.</summary>
    public async Task<List<MqttApplicationMessage>> WaitForAsync(string topic, Func<MqttApplicationMessage, bool>? match = null, int count = 1, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var found = On(topic).Where(m => match?.Invoke(m) ?? true).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                var seen = string.Join("\n", _messages.Where(m => !m.Topic.EndsWith("/stats", StringComparison.Ordinal)).TakeLast(15).Select(m => $"  {m.Topic}: {Truncate(Text(m))}"));
                throw new TimeoutException($"waited {seconds} s for {count} message(s) on {topic}, found {found.Count}; last seen:\n{seen}");
            }

            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Waits for a JSON message on <paramref name="topic"/> whose <paramref name="field"/> has <paramref name="value"/>.</summary>
    public async Task<JsonElement> WaitForJsonAsync(string topic, Func<JsonElement, bool> match, double seconds = 20) =>
        Json((await WaitForAsync(topic, m => TryJson(m) is { } j && match(j), 1, seconds)).Last());

    private static JsonElement? TryJson(MqttApplicationMessage m)
    {
        try
        {
            return Json(m);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Truncate(string? s) => s is null ? "(empty)" : s.Length > 200 ? s[..200] + "…" : s;

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
