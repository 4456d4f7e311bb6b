using System.Text;
using Inspection.TestSupport;
using MQTTnet;
using MQTTnet.Server;

namespace Inspection.Daemon.Tests;

public sealed class MqttBrokerTests
{
    [Fact]
    public async Task In_process_broker_delivers_a_qos1_message_round_trip()
    {
        var port = Tools.FreePort();
        using var server = new MqttServerFactory().CreateMqttServer(
            new MqttServerOptionsBuilder().WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(System.Net.IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        await server.StartAsync();
        var factory = new MqttClientFactory();
        using var subscriber = factory.CreateMqttClient();
        using var publisher = factory.CreateMqttClient();
        var received = new TaskCompletionSource<(string Topic, string Payload)>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult((e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString()));
            return Task.CompletedTask;
        };

        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("sub").Build());
        await subscriber.SubscribeAsync("inspection/#", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("pub").Build());
        var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic("inspection/dev1/cam1/result")
            .WithPayload(Encoding.UTF8.GetBytes("""{"id":"r1"}"""))
            .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

        Assert.True(result.IsSuccess);
        var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("inspection/dev1/cam1/result", message.Topic);
        Assert.Equal("""{"id":"r1"}""", message.Payload);
        await server.StopAsync();
    }
}
