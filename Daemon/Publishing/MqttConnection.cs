using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.Config.Retry;
using Inspection.Daemon.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Inspection.Daemon.Publishing;

/// <summary>The daemon's one MQTT client: connects with a retained <c>offline</c> last will, says <c>online</c>
/// (retained), subscribes to its own inspect and command topics (and the shared request topic, if set), and reconnects
/// with exponential backoff and jitter (MQTTnet 5 has no managed client; this is it).</summary>
internal sealed partial class MqttConnection : IAsyncDisposable, IStatsSource
{
    private readonly MqttOptions _options;
    private readonly Topics _topics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly MqttClientOptions _clientOptions;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    public MqttConnection(MqttOptions options, Topics topics, TimeProvider time, ILogger<MqttConnection> logger)
    {
        _options = options;
        _topics = topics;
        _time = time;
        _logger = logger;
        _client = new MqttClientFactory().CreateMqttClient();
        _clientOptions = BuildOptions(options, topics);
        _client.ApplicationMessageReceivedAsync += e => MessageReceived?.Invoke(e.ApplicationMessage) ?? Task.CompletedTask;
        _client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected)
            {
                if (!_stop.IsCancellationRequested)
                {
                    // Our own clean disconnect at shutdown is not news.
                    LogDisconnected(_logger, e.Reason.ToString(), e.Exception?.Message ?? "");
                }

                Interlocked.Exchange(ref _connected, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                _disconnectedSignal.TrySetResult();
            }

            return Task.CompletedTask;
        };
    }

    private TaskCompletionSource _disconnectedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Messages on the subscribed topics. Handlers must not block: the client's receive loop waits for them.</summary>
    public event Func<MqttApplicationMessage, Task>? MessageReceived;

    public bool IsConnected => _client.IsConnected;

    /// <summary>Completes after the first connection attempt, successful or not (readiness: the broker was tried).</summary>
    public Task FirstAttempt => _firstAttempt.Task;

    /// <summary>Completes when the client is connected (a fresh task after each disconnect).</summary>
    public Task WhenConnected => Volatile.Read(ref _connected).Task;

    public long Reconnects { get; private set; }

    /// <summary><c>mqtt_reconnects</c>.</summary>
    public void AddStats(JsonObject stats) => stats["mqtt_reconnects"] = Reconnects;

    /// <summary>Successful connections so far; changes on every reconnect.</summary>
    public long Connections { get; private set; }

    /// <summary>How many QoS 1 publishes the broker accepts in flight (MQTT 5 CONNACK Receive Maximum).</summary>
    public int ReceiveMaximum { get; private set; } = ushort.MaxValue;

    /// <summary>The largest packet the broker accepts (MQTT 5 CONNACK Maximum Packet Size; 0: no limit given).</summary>
    public long MaximumPacketSize { get; private set; }

    public void Start() => _loop = Task.Run(() => KeepConnectedAsync(_stop.Token));

    private static MqttClientOptions BuildOptions(MqttOptions o, Topics topics)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(o.Host, o.Port)
            .WithClientId(topics.ClientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithKeepAlivePeriod(o.KeepAlive)
            .WithCleanStart(true)

            // Requests above Mqtt:MaxPayloadBytes are answered with an error; far larger ones the broker drops unread.
            .WithMaximumPacketSize((uint)o.MaxPayloadBytes + (64 * 1024))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(topics.Status)
            .WithWillPayload("offline"u8.ToArray())
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (o.Username.Length > 0)
        {
            var password = o.PasswordFile.Length > 0 ? Secrets.Read("Mqtt:PasswordFile", o.PasswordFile) : null;
            builder.WithCredentials(o.Username, password);
        }

        if (o.Tls.Enabled || o.Tls.CaFile.Length > 0)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                if (o.Tls.CaFile.Length > 0)
                {
                    var chain = new X509Certificate2Collection();
                    chain.ImportFromPemFile(o.Tls.CaFile);
                    tls.WithTrustChain(chain);
                }

                if (o.Tls.CertFile.Length > 0)
                {
                    // Export/re-import: SslStream on Linux needs the key bound to the certificate in one PKCS#12 blob.
                    using var pem = X509Certificate2.CreateFromPemFile(o.Tls.CertFile, o.Tls.KeyFile);
                    tls.WithClientCertificates([X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null)]);
                }
            });
        }

        return builder.Build();
    }

    private async Task KeepConnectedAsync(CancellationToken ct)
    {
        var attempt = 0;
        while (!ct.IsCancellationRequested)
        {
            _disconnectedSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                var connected = await _client.ConnectAsync(_clientOptions, ct).ConfigureAwait(false);

                // The client library does not hold itself to the broker's receive maximum; the publisher does (0: none given).
                ReceiveMaximum = connected.ReceiveMaximum is > 0 and var maximum ? maximum : ushort.MaxValue;
                MaximumPacketSize = connected.MaximumPacketSize ?? 0;
                await SubscribeAsync(ct).ConfigureAwait(false);

                // "online" only once requests can be received: a controller may act on it at once.
                await _client.PublishAsync(Message(_topics.Status, "online"u8.ToArray(), retain: true), ct).ConfigureAwait(false);
                if (attempt > 0)
                {
                    Reconnects++;
                }

                attempt = 0;
                Connections++;
                LogConnected(_logger, _options.Host, _options.Port, _topics.Root);
                _firstAttempt.TrySetResult();
                Volatile.Read(ref _connected).TrySetResult();
                await _disconnectedSignal.Task.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _firstAttempt.TrySetResult();
                var delay = ReconnectBackoff.Delay(_options.ReconnectMinDelay, _options.ReconnectMaxDelay, ++attempt);
                LogConnectFailed(_logger, _options.Host, _options.Port, ex.Message, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    // Every connect starts a clean session, so the subscriptions are made again each time.
    private async Task SubscribeAsync(CancellationToken ct)
    {
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(_topics.Inspect, MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter(_topics.Commands, MqttQualityOfServiceLevel.AtLeastOnce);
        if (_topics.SharedInspectFilter is { } shared)
        {
            subscribe.WithTopicFilter(shared, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var result = await _client.SubscribeAsync(subscribe.Build(), ct).ConfigureAwait(false);
        foreach (var item in result.Items.Where(i => (int)i.ResultCode > (int)MqttClientSubscribeResultCode.GrantedQoS2))
        {
            // A broker without shared subscriptions (or an ACL) refuses a filter; the others still work, so say it and go on.
            LogSubscribeRefused(_logger, item.TopicFilter.Topic, item.ResultCode.ToString());
        }
    }

    /// <summary>Publishes and waits for the broker's acknowledgement (QoS 1). False when not connected or refused.</summary>
    public async Task<bool> PublishAsync(MqttApplicationMessage message, CancellationToken ct) =>
        (await SendAsync(message, ct).ConfigureAwait(false)).Delivered;

    /// <summary>Publishes and waits for the broker's acknowledgement (QoS 1), telling a refusal for good (the broker's
    /// reason code says the same message will never be accepted, or it is larger than the broker's maximum packet size)
    /// from a failure worth retrying (not connected, connection lost, a passing error).</summary>
    public async Task<PublishOutcome> SendAsync(MqttApplicationMessage message, CancellationToken ct)
    {
        if (!_client.IsConnected)
        {
            return PublishOutcome.Retry;
        }

        // The broker closes the connection on a packet above its maximum (MQTT 5 CONNACK Maximum Packet Size), which would
        // repeat on every retry; the fixed header, topic and properties take well under 256 bytes besides.
        if (MaximumPacketSize > 0 && message.Payload.Length + System.Text.Encoding.UTF8.GetByteCount(message.Topic) + 256 > MaximumPacketSize)
        {
            return PublishOutcome.Refused($"PacketTooLarge (broker maximum {MaximumPacketSize} bytes, payload {message.Payload.Length})");
        }

        try
        {
            var result = await _client.PublishAsync(message, ct).ConfigureAwait(false);
            if (result.IsSuccess)
            {
                return PublishOutcome.Success;
            }

            var reason = $"{result.ReasonCode} (0x{(int)result.ReasonCode:x2}){(string.IsNullOrEmpty(result.ReasonString) ? "" : ": " + result.ReasonString)}";
            LogPublishFailed(_logger, message.Topic, reason);
            return result.ReasonCode is MqttClientPublishReasonCode.NotAuthorized or MqttClientPublishReasonCode.TopicNameInvalid
                or MqttClientPublishReasonCode.PayloadFormatInvalid or MqttClientPublishReasonCode.ImplementationSpecificError
                ? PublishOutcome.Refused(reason)
                : PublishOutcome.Retry;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogPublishFailed(_logger, message.Topic, ex.Message);
            return PublishOutcome.Retry;
        }
    }

    public static MqttApplicationMessage Message(string topic, byte[] payload, bool retain = false, string? responseTopic = null, byte[]? correlation = null)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithRetainFlag(retain)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic is not null)
        {
            builder.WithResponseTopic(responseTopic);
        }

        if (correlation is not null)
        {
            builder.WithCorrelationData(correlation);
        }

        return builder.Build();
    }

    /// <summary>Says <c>offline</c> (retained) and disconnects cleanly; the last will is not sent after a clean disconnect.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_client.IsConnected)
        {
            try
            {
                await PublishAsync(Message(_topics.Status, "offline"u8.ToArray(), retain: true), ct).ConfigureAwait(false);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The host's shutdown deadline passed (a loaded machine, a slow broker): the rest of the stop must still run,
                // and the broker, seeing the connection drop, sends the retained last will ("offline") instead.
                LogPublishFailed(_logger, "(disconnect)", "the shutdown deadline passed before the broker answered; the connection is dropped and the last will says offline");
            }
            catch (Exception ex)
            {
                LogPublishFailed(_logger, "(disconnect)", ex.Message);
            }
        }

        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _client.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MQTT connected to {Host}:{Port}; topics under {Root}")]
    private static partial void LogConnected(ILogger logger, string host, int port, string root);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT cannot connect to {Host}:{Port}: {Error}; retrying in {Seconds:0.0} s")]
    private static partial void LogConnectFailed(ILogger logger, string host, int port, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT disconnected ({Reason}) {Error}; reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string reason, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "MQTT broker refused the subscription {Filter}: {Reason}")]
    private static partial void LogSubscribeRefused(ILogger logger, string filter, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT publish to {Topic} failed: {Error}")]
    private static partial void LogPublishFailed(ILogger logger, string topic, string error);
}

/// <summary>How a QoS 1 publish ended: delivered (PUBACK success), worth retrying, or refused for good with the reason.</summary>
internal sealed record PublishOutcome(bool Delivered, string? RefusedFor)
{
    public static readonly PublishOutcome Success = new(true, null);

    public static readonly PublishOutcome Retry = new(false, null);

    public static PublishOutcome Refused(string reason) => new(false, reason);
}
