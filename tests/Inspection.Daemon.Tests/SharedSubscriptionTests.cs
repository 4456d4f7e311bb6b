using System.Text;
using System.Text.Json;
using Inspection.TestSupport;
using MQTTnet;

namespace Inspection.Daemon.Tests;

/// <summary>Several daemons sharing one request topic through an MQTT 5 shared subscription (Mqtt:SharedInspectTopic),
/// on a real Mosquitto: the broker hands each request to one daemon of the group.</summary>
public sealed class SharedSubscriptionTests
{
    private const string SharedTopic = "inspection/pool/inspect";
    private const string Answers = "inspection/pool/replies/line";

    [RequiresToolFact("mosquitto")]
    public async Task Two_daemons_in_one_share_group_answer_each_request_exactly_once_also_after_a_broker_restart()
    {
        using var temp = new TempDirectory("daemon-shared");
        using var otherTemp = new TempDirectory("daemon-shared-2");
        using var broker = new Mosquitto(temp);
        await using var first = PoolDaemon(temp, broker.Port, "dev1");
        await using var second = PoolDaemon(otherTemp, broker.Port, "dev2");
        var image = first.WriteImage("part.png", 240);
        second.Options.Inspect.AllowedFolders = [first.RequestsDir];
        await first.StartAsync();
        await second.StartAsync();

        await AskAndCheckAsync(broker.Port, image, "before", 12);

        // A fresh broker knows no subscriptions: both daemons must reconnect and subscribe $share/... again.
        broker.Restart();
        await AskAndCheckAsync(broker.Port, image, "after", 12);
    }

    private static DaemonUnderTest PoolDaemon(TempDirectory temp, int port, string device)
    {
        var daemon = new DaemonUnderTest(temp, port);
        daemon.Options.Mqtt.Device = device;
        daemon.Options.Mqtt.SharedInspectTopic = SharedTopic;
        daemon.Options.Mqtt.ShareGroup = "inspectors";
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        return daemon;
    }

    private static async Task AskAndCheckAsync(int port, string image, string batch, int count)
    {
        await using var line = await MqttProbe.ConnectAsync(port);
        foreach (var device in new[] { "dev1", "dev2" })
        {
            // "online" is published only after subscribing, so both are in the share group from here on.
            await line.WaitForAsync($"inspection/{device}/status", m => MqttProbe.Text(m) == "online");
        }

        var parts = Enumerable.Range(1, count).Select(i => $"{batch}-{i}").ToList();
        foreach (var part in parts)
        {
            await line.PublishAsync(SharedTopic, JsonSerializer.Serialize(new { part_id = part, image_path = image }), Answers, Encoding.UTF8.GetBytes(part));
        }

        // A malformed shared request is answered with an error, like one on a device's own topic.
        await line.PublishAsync(SharedTopic, """{"image_path": "x"}""", Answers, Encoding.UTF8.GetBytes($"{batch}-bad"));

        await line.WaitForAsync(Answers, m => Correlation(m).StartsWith(batch + "-", StringComparison.Ordinal), count + 1, seconds: 60);
        await WaitForResultsAsync(line, batch, count);
        await Task.Delay(1000); // a request delivered to both daemons would be answered twice by now

        var answers = line.On(Answers).Where(m => Correlation(m).StartsWith(batch + "-", StringComparison.Ordinal)).ToList();
        var error = Assert.Single(answers, m => Correlation(m) == $"{batch}-bad");
        Assert.False(MqttProbe.Json(error).GetProperty("ok").GetBoolean());
        Assert.Contains("'part_id' is missing", MqttProbe.Json(error).GetProperty("error").GetString(), StringComparison.Ordinal);

        var results = answers.Where(m => m != error).Select(MqttProbe.Json).ToList();
        Assert.Equal(parts.Order(), results.Select(r => r.GetProperty("part_id").GetString()).Order());
        Assert.All(answers.Where(m => m != error), m => Assert.Equal(Correlation(m), MqttProbe.Json(m).GetProperty("part_id").GetString()));

        // Each part inspected once in the whole fleet, and published on the device's own result topic.
        var published = ResultParts(line, "dev1", batch).Concat(ResultParts(line, "dev2", batch)).ToList();
        Assert.Equal(parts.Order(), published.Order());

        // Mosquitto deals a share group's messages round-robin, so each daemon got some.
        Assert.NotEmpty(ResultParts(line, "dev1", batch));
        Assert.NotEmpty(ResultParts(line, "dev2", batch));
    }

    private static async Task WaitForResultsAsync(MqttProbe line, string batch, int count)
    {
        for (var i = 0; i < 300 && ResultParts(line, "dev1", batch).Count() + ResultParts(line, "dev2", batch).Count() < count; i++)
        {
            await Task.Delay(100);
        }
    }

    private static IEnumerable<string?> ResultParts(MqttProbe line, string device, string batch) =>
        line.On($"inspection/{device}/file/result").Select(m => MqttProbe.Json(m).GetProperty("part_id").GetString())
            .Where(p => p?.StartsWith(batch + "-", StringComparison.Ordinal) == true);

    private static string Correlation(MqttApplicationMessage m) => m.CorrelationData is null ? "" : Encoding.UTF8.GetString(m.CorrelationData);

    [Fact]
    public async Task A_broker_without_shared_subscriptions_leaves_the_own_inspect_topic_working()
    {
        // MQTTnet 5's in-process server answers a $share filter with SharedSubscriptionsNotSupported (0x9E).
        using var temp = new TempDirectory("daemon-shared-refused");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        await using var line = await MqttProbe.ConnectAsync(broker.Port);
        await using var daemon = PoolDaemon(temp, broker.Port, DaemonUnderTest.Device);
        await daemon.StartAsync();
        await line.WaitForAsync($"{DaemonUnderTest.Root}/status", m => MqttProbe.Text(m) == "online");

        var image = daemon.WriteImage("own.png", 240);
        await line.PublishAsync($"{DaemonUnderTest.Root}/inspect", JsonSerializer.Serialize(new { part_id = "own-1", image_path = image }), Answers);
        var answer = await line.WaitForJsonAsync(Answers, j => j.GetProperty("part_id").GetString() == "own-1");
        Assert.Equal(DaemonUnderTest.Device, answer.GetProperty("device").GetString());
    }
}
