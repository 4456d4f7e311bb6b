using System.Text;
using System.Text.Json;
using Inspection.Daemon.Tests.Fixtures;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Daemon.Tests;

/// <summary>Inspect requests and commands over MQTT against a daemon on an in-process broker.</summary>
public sealed class InspectRequestTests : IAsyncLifetime
{
    private const string Root = DaemonUnderTest.Root;
    private readonly TempDirectory _temp = new("daemon-requests");
    private TestBroker _broker = null!;
    private DaemonUnderTest _daemon = null!;
    private MqttProbe _probe = null!;

    public async Task InitializeAsync()
    {
        _broker = new TestBroker();
        await _broker.StartAsync();
        // A triggered camera: it makes no results of its own; image requests are reported under it and use its threshold.
        _daemon = new DaemonUnderTest(_temp, _broker.Port, new Config.Options.CameraOptions
        {
            Id = "cam1",
            Source = "synthetic://?width=64&height=48&fps=5",
            Trigger = Config.Options.TriggerMode.Trigger,
        });
        TinyOnnx.WriteCurrent(_daemon.ModelsDir, "v1");
        _probe = await MqttProbe.ConnectAsync(_broker.Port);
        await _daemon.StartAsync();
        await _probe.WaitForAsync($"{Root}/status", m => MqttProbe.Text(m) == "online");
    }

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await _probe.DisposeAsync();
        await _broker.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Inspect_request_with_response_topic_gets_the_result_with_its_correlation_data()
    {
        var image = _daemon.WriteImage("part-4711.png", background: 200, brightSquare: new Rect(8, 8, 16, 16));
        var correlation = Encoding.UTF8.GetBytes("corr-4711");
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "4711", image_path = image }), responseTopic: "line/42/answers", correlation: correlation);

        var answer = (await _probe.WaitForAsync("line/42/answers")).Single();
        Assert.Equal(correlation, answer.CorrelationData);
        var result = MqttProbe.Json(answer);
        Assert.Equal("4711", result.GetProperty("part_id").GetString());
        Assert.True(result.GetProperty("defect").GetBoolean());
        Assert.Equal(DaemonUnderTest.Device, result.GetProperty("device").GetString());
        Assert.Equal(image, result.GetProperty("image_path").GetString());
        Assert.Equal("v1", result.GetProperty("models").GetProperty("classifier").GetString());
        var segmentation = result.GetProperty("segmentation");
        Assert.True(segmentation.GetProperty("coverage").GetDouble() > 0);
        Assert.NotEmpty(segmentation.EnumerateArray("regions"));

        // The same result (same id) also goes to the camera's result and defect topics, with the overlay saved.
        var id = result.GetProperty("id").GetString()!;
        var camera = result.GetProperty("camera").GetString();
        await _probe.WaitForJsonAsync($"{Root}/{camera}/result", r => r.GetProperty("id").GetString() == id);
        await _probe.WaitForJsonAsync($"{Root}/{camera}/defect", r => r.GetProperty("id").GetString() == id);
        var mask = segmentation.GetProperty("mask").GetString();
        Assert.Equal(id + ".mask.png", mask);
        await WaitForFileAsync(Path.Combine(_daemon.Options.Snapshots.Directory, mask!));
        Assert.True(File.Exists(Path.Combine(_daemon.Options.Snapshots.Directory, id + ".jpg")));
    }

    [Fact]
    public async Task A_good_part_is_not_a_defect_and_results_are_numbered_from_one()
    {
        var dark = _daemon.WriteImage("dark.png", background: 20);
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "a", image_path = dark }));
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "b", image_path = dark }));
        var results = (await _probe.WaitForAsync($"{Root}/cam1/result", count: 2)).Select(MqttProbe.Json).ToList();
        Assert.Equal(["a", "b"], results.Select(r => r.GetProperty("part_id").GetString()));
        Assert.Equal([1L, 2L], results.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.All(results, r => Assert.False(r.GetProperty("defect").GetBoolean()));
        Assert.All(results, r => Assert.True(r.GetProperty("score").GetDouble() < r.GetProperty("threshold").GetDouble()));
        Assert.Empty(_probe.On($"{Root}/cam1/defect"));
    }

    [Theory]
    [InlineData("inspect", "{not json", "not valid JSON")]
    [InlineData("inspect", "[1,2]", "must be a JSON object")]
    [InlineData("inspect", "{\"camera\":\"file\"}", "'part_id' is missing")]
    [InlineData("inspect", "{\"part_id\":\"p1\",\"image_path\":\"/etc/passwd\"}", "outside the allowed folders")]
    [InlineData("inspect", "{\"part_id\":\"p1\",\"image_path\":\"relative/x.png\"}", "must be an absolute path")]
    [InlineData("inspect", "{\"part_id\":\"p1\",\"camera\":\"nope\"}", "unknown camera 'nope'")]
    [InlineData("cmd/threshold", "{\"value\":1.5}", "strictly between 0 and 1")]
    [InlineData("cmd/threshold", "{\"value\":0}", "strictly between 0 and 1")]
    [InlineData("cmd/threshold", "{\"value\":\"high\"}", "'value' must be a number")]
    [InlineData("cmd/threshold", "{\"camera\":\"nope\",\"value\":0.3}", "unknown camera 'nope'")]
    [InlineData("cmd/pause", "{\"camera\":\"nope\"}", "unknown camera 'nope'")]
    [InlineData("cmd/explode", "{}", "unknown command 'explode'")]
    public async Task Bad_requests_get_an_error_reply_and_the_daemon_keeps_serving(string topic, string payload, string error)
    {
        var correlation = Encoding.UTF8.GetBytes(Guid.NewGuid().ToString());
        await _probe.PublishAsync($"{Root}/{topic}", payload, responseTopic: "replies/bad", correlation: correlation);
        var reply = (await _probe.WaitForAsync("replies/bad")).Single();
        Assert.Equal(correlation, reply.CorrelationData);
        var json = MqttProbe.Json(reply);
        Assert.False(json.GetProperty("ok").GetBoolean());
        Assert.Contains(error, json.GetProperty("error").GetString(), StringComparison.Ordinal);

        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Errors_without_a_response_topic_go_to_cmd_reply_and_oversize_payloads_are_refused()
    {
        var missing = Path.Combine(_daemon.RequestsDir, "missing.png");
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "p9", image_path = missing }));
        var reply = await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "inspect");
        Assert.Contains("does not exist", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("p9", reply.GetProperty("part_id").GetString());

        var corrupt = Path.Combine(_daemon.RequestsDir, "corrupt.png");
        await File.WriteAllTextAsync(corrupt, "not an image");
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "p10", image_path = corrupt }));
        reply = await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.TryGetProperty("part_id", out var p) && p.GetString() == "p10");
        Assert.Contains("cannot decode", reply.GetProperty("error").GetString(), StringComparison.Ordinal);

        await _probe.PublishAsync($"{Root}/cmd/reload", "{\"pad\":\"" + new string('x', 2000) + "\"}");
        reply = await _probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "reload");
        Assert.Contains("exceeds Mqtt:MaxPayloadBytes (1024)", reply.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Messages outside the device's own tree are not requests and get no reply.
        await _probe.PublishAsync("inspection/other-device/cmd/reload", "{}");
        await AssertStillServingAsync();
        Assert.DoesNotContain(_probe.Messages, m => m.Topic == "inspection/other-device/cmd/reply");
    }

    [Fact]
    public async Task Threshold_command_changes_the_decision_and_is_recorded_in_the_retained_models_message()
    {
        // Brightness 110 gives score sigmoid(20·(110/255 − 0.5)) ≈ 0.20: good at the manifest's 0.5, a defect at 0.1.
        var grey = _daemon.WriteImage("grey.png", background: 110);
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "before", image_path = grey }));
        var before = await _probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "before");
        Assert.InRange(before.GetProperty("score").GetDouble(), 0.1, 0.3);
        Assert.False(before.GetProperty("defect").GetBoolean());
        Assert.Equal(0.5, before.GetProperty("threshold").GetDouble());

        await _probe.PublishAsync($"{Root}/cmd/threshold", "{\"camera\":\"cam1\",\"value\":0.1}", responseTopic: "replies/t");
        var reply = MqttProbe.Json((await _probe.WaitForAsync("replies/t")).Single());
        Assert.True(reply.GetProperty("ok").GetBoolean(), reply.ToString());
        var models = await _probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("thresholds").GetProperty("cam1").GetDouble() == 0.1);
        Assert.Equal(0.1, models.GetProperty("threshold_overrides").GetProperty("cam1").GetDouble());
        Assert.Equal(0.5, models.GetProperty("classifier").GetProperty("threshold").GetProperty("value").GetDouble());
        Assert.Equal("cpu", models.GetProperty("provider").GetString());

        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "after", image_path = grey }));
        var after = await _probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "after");
        Assert.True(after.GetProperty("defect").GetBoolean());
        Assert.Equal(0.1, after.GetProperty("threshold").GetDouble());
    }

    private async Task AssertStillServingAsync()
    {
        var partId = Guid.NewGuid().ToString("N");
        var image = _daemon.WriteImage($"{partId}.png", background: 30);
        await _probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = partId, image_path = image }));
        await _probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == partId);
    }

    private static async Task WaitForFileAsync(string path)
    {
        for (var i = 0; i < 100 && !File.Exists(path); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(File.Exists(path), $"{path} was not written");
    }
}

internal static class JsonTestExtensions
{
    public static IEnumerable<JsonElement> EnumerateArray(this JsonElement element, string property) => element.GetProperty(property).EnumerateArray();
}
