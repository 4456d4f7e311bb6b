using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Publishing;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Inspection.Daemon.Tests.Deployment;

/// <summary>The daemon's MQTT connection against a real Mosquitto with TLS, passwords, client certificates and the
/// repository's ACL (docs/deployment.md, Security).</summary>
public sealed class MqttSecurityTests(SecureMosquitto broker) : IClassFixture<SecureMosquitto>
{
    [RequiresToolFact("mosquitto", "mosquitto_passwd", "openssl", "kill")]
    public async Task Daemon_process_connects_over_tls_with_the_password_from_its_credentials_directory_and_never_logs_it()
    {
        using var temp = new TempDirectory("daemon-credentials");
        var daemon = new DaemonUnderTest(temp, broker.PasswordPort);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        var credentials = temp.Combine("credentials");
        Directory.CreateDirectory(credentials);
        File.WriteAllText(Path.Combine(credentials, "mqtt-password"), SecureMosquitto.DaemonPassword + "\n");
        var config = temp.Combine("inspection.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            Mqtt = new
            {
                Host = "127.0.0.1",
                Port = broker.PasswordPort,
                Device = SecureMosquitto.DaemonUser,
                Username = SecureMosquitto.DaemonUser,
                PasswordFile = "mqtt-password",
                Tls = new { CaFile = broker.File("ca.pem") },
                ReconnectMinDelay = "00:00:00.1",
                ReconnectMaxDelay = "00:00:00.5",
            },
            Models = new { daemon.Options.Models.Directory, Provider = "cpu", Threads = 1 },
            Outbox = new { daemon.Options.Outbox.Directory },
            Snapshots = new { daemon.Options.Snapshots.Directory },
            Inspect = new { daemon.Options.Inspect.AllowedFolders },
        }));
        await using var controller = await ConnectAsync(broker.PasswordPort, SecureMosquitto.ControllerUser, SecureMosquitto.ControllerPassword);
        var online = controller.Expect($"inspection/{SecureMosquitto.DaemonUser}/status", "online");
        await controller.SubscribeAsync($"inspection/{SecureMosquitto.DaemonUser}/status");

        // As systemd starts it: LoadCredential= puts the file in $CREDENTIALS_DIRECTORY, the config names it bare.
        using var process = DaemonProcess.Start(config, new Dictionary<string, string> { ["CREDENTIALS_DIRECTORY"] = credentials });
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await online.WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            DaemonProcess.Terminate(process);
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var log = await stdout + await stderr;
        Assert.Contains($"MQTT connected to 127.0.0.1:{broker.PasswordPort}", log, StringComparison.Ordinal);
        Assert.DoesNotContain(SecureMosquitto.DaemonPassword, log, StringComparison.Ordinal);
    }

    [RequiresToolFact("mosquitto", "mosquitto_passwd", "openssl")]
    public async Task Refuses_a_broker_certificate_from_an_untrusted_ca_or_for_another_host_and_a_wrong_password()
    {
        var trusted = await TryConnectAsync(Options(broker.PasswordPort, caFile: broker.File("ca.pem")));
        var untrusted = await TryConnectAsync(Options(broker.PasswordPort, caFile: broker.File("rogue-ca.pem")));
        var systemStore = await TryConnectAsync(Options(broker.PasswordPort, caFile: "", tls: true));
        var wrongPassword = await TryConnectAsync(Options(broker.PasswordPort, caFile: broker.File("ca.pem"), password: "guess"));
        var wrongName = await TryConnectAsync(Options(broker.OtherAddressPort, caFile: broker.File("ca.pem"), host: SecureMosquitto.OtherAddress));

        Assert.True(trusted.Connected, trusted.Log);
        Assert.False(untrusted.Connected, "connected to a broker whose CA is not the configured one");
        Assert.Contains("MQTT cannot connect", untrusted.Log, StringComparison.Ordinal);
        Assert.False(systemStore.Connected, "the test CA is in no system trust store, so this must fail");
        Assert.False(wrongPassword.Connected);
        Assert.Contains("MQTT cannot connect", wrongPassword.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("guess", wrongPassword.Log, StringComparison.Ordinal);
        Assert.False(wrongName.Connected, "the broker's certificate does not name the host the daemon connected to");
        Assert.Contains("remote certificate was rejected", wrongName.Log, StringComparison.Ordinal);
        Assert.Contains("remote certificate was rejected", untrusted.Log, StringComparison.Ordinal);
    }

    [RequiresToolFact("mosquitto", "mosquitto_passwd", "openssl")]
    public async Task Presents_its_client_certificate_where_the_broker_requires_one()
    {
        var withCertificate = await TryConnectAsync(Options(broker.ClientCertificatePort, broker.File("ca.pem"), broker.File("client.pem"), broker.File("client.key")));
        var without = await TryConnectAsync(Options(broker.ClientCertificatePort, broker.File("ca.pem")));
        var rogue = await TryConnectAsync(Options(broker.ClientCertificatePort, broker.File("ca.pem"), broker.File("rogue-client.pem"), broker.File("rogue-client.key")));

        Assert.True(withCertificate.Connected, withCertificate.Log);
        Assert.False(without.Connected, "the broker requires a client certificate");
        Assert.False(rogue.Connected, "a client certificate from an untrusted CA must be refused");
    }

    [RequiresToolFact("mosquitto", "mosquitto_passwd", "openssl")]
    public async Task Acl_keeps_a_daemon_inside_its_own_device_tree()
    {
        await using var daemon = await ConnectAsync(broker.PasswordPort, SecureMosquitto.DaemonUser, SecureMosquitto.DaemonPassword);
        await using var controller = await ConnectAsync(broker.PasswordPort, SecureMosquitto.ControllerUser, SecureMosquitto.ControllerPassword);

        // Writes: its own tree only.
        Assert.True(Accepted(await daemon.PublishAsync("inspection/dev1/cam1/result", "{}")));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await daemon.PublishAsync("inspection/dev2/cam1/result", "{}"));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await daemon.PublishAsync("other/dev1/status", "online"));

        // Reads: whatever it subscribes to, it receives only its own inspect and cmd topics.
        var last = daemon.Expect("inspection/dev1/inspect", "last");
        await daemon.SubscribeAsync("inspection/#");
        foreach (var topic in new[] { "inspection/dev2/inspect", "inspection/dev2/cmd/pause", "inspection/dev1/cmd/pause" })
        {
            Assert.True(Accepted(await controller.PublishAsync(topic, "x")), topic);
        }

        Assert.True(Accepted(await daemon.PublishAsync("inspection/dev1/cam1/result", "{}")));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await controller.PublishAsync("inspection/dev1/cam1/result", "forged"));

        Assert.True(Accepted(await controller.PublishAsync("inspection/dev1/inspect", "last")));
        await last.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["inspection/dev1/cmd/pause", "inspection/dev1/inspect"], daemon.Received.Select(m => m.Topic));
    }

    // The broker took the message (whether or not anyone subscribed), as opposed to NotAuthorized.
    private static bool Accepted(MqttClientPublishReasonCode code) =>
        code is MqttClientPublishReasonCode.Success or MqttClientPublishReasonCode.NoMatchingSubscribers;

    private static MqttOptions Options(int port, string caFile, string certFile = "", string keyFile = "", string password = SecureMosquitto.DaemonPassword, bool tls = false, string host = "127.0.0.1")
    {
        var passwordFile = Path.Combine(Path.GetTempPath(), $"inspection-pw-{Guid.NewGuid():N}");
        File.WriteAllText(passwordFile, password);
        return new MqttOptions
        {
            Host = host,
            Port = port,
            Device = SecureMosquitto.DaemonUser,
            ClientId = $"dev1-{Guid.NewGuid():N}",
            Username = SecureMosquitto.DaemonUser,
            PasswordFile = passwordFile,
            Tls = new MqttTlsOptions { Enabled = tls, CaFile = caFile, CertFile = certFile, KeyFile = keyFile },
        };
    }

    /// <summary>The daemon's own connection code: one attempt, then stop.</summary>
    private static async Task<(bool Connected, string Log)> TryConnectAsync(MqttOptions options)
    {
        var logger = new ListLogger<MqttConnection>();
        try
        {
            await using var connection = new MqttConnection(options, new Topics(options), TimeProvider.System, logger);
            connection.Start();
            await connection.FirstAttempt.WaitAsync(TimeSpan.FromSeconds(30));
            var connected = connection.IsConnected;
            await connection.StopAsync(CancellationToken.None);
            return (connected, logger.Text);
        }
        finally
        {
            File.Delete(options.PasswordFile);
        }
    }

    private Task<TlsClient> ConnectAsync(int port, string user, string password) =>
        TlsClient.ConnectAsync(port, broker.File("ca.pem"), user, password);
}

/// <summary>A plain MQTTnet 5 client over TLS (the line controller, or a daemon's identity for the ACL test).</summary>
internal sealed class TlsClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly List<(string Topic, string Payload)> _received = [];
    private readonly List<(string Topic, string Payload, TaskCompletionSource Arrived)> _expected = [];

    private TlsClient()
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = (e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString());
            lock (_received)
            {
                _received.Add(message);
                foreach (var expected in _expected.Where(x => x.Topic == message.Topic && x.Payload == message.Item2))
                {
                    expected.Arrived.TrySetResult();
                }
            }

            return Task.CompletedTask;
        };
    }

    public IReadOnlyList<(string Topic, string Payload)> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<TlsClient> ConnectAsync(int port, string caFile, string user, string password)
    {
        var client = new TlsClient();
        var ca = new X509Certificate2Collection();
        ca.ImportFromPemFile(caFile);
        await client._client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId($"{user}-{Guid.NewGuid():N}")
            .WithCredentials(user, password)
            .WithTlsOptions(tls => tls.UseTls().WithTrustChain(ca))
            .Build());
        return client;
    }

    /// <summary>Completes when a message with this topic and payload arrives (register before it can arrive).</summary>
    public Task Expect(string topic, string payload)
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_received)
        {
            _expected.Add((topic, payload, arrived));
        }

        return arrived.Task;
    }

    public Task SubscribeAsync(string filter) => _client.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);

    public async Task<MqttClientPublishReasonCode> PublishAsync(string topic, string payload) =>
        (await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())).ReasonCode;

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
