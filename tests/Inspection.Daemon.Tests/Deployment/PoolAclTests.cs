using Inspection.TestSupport;
using MQTTnet;

namespace Inspection.Daemon.Tests.Deployment;

/// <summary>Mosquitto with the repository's ACL and its optional pool lines uncommented (docs/deployment.md, Running a fleet).</summary>
public sealed class PoolMosquitto : IDisposable
{
    public SecureMosquitto Broker { get; } = new(acl => string.Join('\n', acl.Split('\n')
        .Select(line => line.StartsWith("#pattern ", StringComparison.Ordinal) && line.Contains("inspection/pool/", StringComparison.Ordinal) ? line[1..] : line)));

    public void Dispose() => Broker.Dispose();
}

/// <summary>The ACL lines a pool of daemons needs: with them a daemon in the share group gets every request dealt to
/// it and may answer under <c>inspection/pool/replies/</c> (without them Mosquitto drops the requests it deals it).</summary>
public sealed class PoolAclTests(PoolMosquitto pool) : IClassFixture<PoolMosquitto>
{
    [RequiresToolFact("mosquitto", "mosquitto_passwd", "openssl")]
    public async Task The_pool_lines_let_a_daemon_take_shared_requests_and_answer_under_the_pool_replies()
    {
        var broker = pool.Broker;
        await using var daemon = await TlsClient.ConnectAsync(broker.PasswordPort, broker.File("ca.pem"), SecureMosquitto.DaemonUser, SecureMosquitto.DaemonPassword);
        await using var controller = await TlsClient.ConnectAsync(broker.PasswordPort, broker.File("ca.pem"), SecureMosquitto.ControllerUser, SecureMosquitto.ControllerPassword);
        var last = daemon.Expect("inspection/pool/inspect", "r4");
        await daemon.SubscribeAsync("$share/inspectors/inspection/pool/inspect");
        var answer = controller.Expect("inspection/pool/replies/plc1", "done");
        await controller.SubscribeAsync("inspection/pool/replies/#");

        foreach (var request in new[] { "r1", "r2", "r3", "r4" })
        {
            Assert.Equal(MqttClientPublishReasonCode.Success, await controller.PublishAsync("inspection/pool/inspect", request));
        }

        await last.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["r1", "r2", "r3", "r4"], daemon.Received.Select(m => m.Payload));
        Assert.Equal(MqttClientPublishReasonCode.Success, await daemon.PublishAsync("inspection/pool/replies/plc1", "done"));
        await answer.WaitAsync(TimeSpan.FromSeconds(10));

        // The pool lines open nothing else: requests stay the controller's to send.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await daemon.PublishAsync("inspection/pool/inspect", "forged"));
    }
}
