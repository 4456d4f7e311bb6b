using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Daemon.Tests;

/// <summary>Inspect requests and commands over MQTT against a daemon on an in-process broker.</summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = TestOwnership.AsyncLifetime)]
public sealed class InspectRequestTests() : BrokerTestBase("daemon-requests")
{
    private const string Root = DaemonUnderTest.Root;
    private DaemonUnderTest _daemon = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        // A triggered camera: it makes no results of its own; image requests are reported under it and use its threshold.
        _daemon = new DaemonUnderTest(Temp, Broker.Port, new Config.Options.CameraOptions
        {
            Id = "cam1",
            Source = "synthetic://?width=64&height=48&fps=5",
            Trigger = Config.Options.TriggerMode.Trigger,
        });
        TinyOnnx.WriteCurrent(_daemon.ModelsDir, "v1");
        await _daemon.StartAsync();
        await Probe.WaitForAsync($"{Root}/status", m => MqttProbe.Text(m) == "online");
    }

    public override async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        await base.DisposeAsync();
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TestOwnership.JsonEnumerator)]
    public async Task Inspect_request_with_response_topic_gets_the_result_with_its_correlation_data()
    {
        var image = _daemon.WriteImage("part-4711.png", background: 200, brightSquare: new Rect(8, 8, 16, 16));
        var correlation = Encoding.UTF8.GetBytes("corr-4711");
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "4711", image_path = image }), responseTopic: $"{Root}/replies/line42", correlation: correlation);

        var answer = (await Probe.WaitForAsync($"{Root}/replies/line42")).Single();
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
        await Probe.WaitForJsonAsync($"{Root}/{camera}/result", r => r.GetProperty("id").GetString() == id);
        await Probe.WaitForJsonAsync($"{Root}/{camera}/defect", r => r.GetProperty("id").GetString() == id);
        var mask = segmentation.GetProperty("mask").GetString();
        Assert.Equal(id + ".mask.png", mask);
        await WaitForFileAsync(Path.Combine(_daemon.Options.Snapshots.Directory, mask!));
        Assert.True(File.Exists(Path.Combine(_daemon.Options.Snapshots.Directory, id + ".jpg")));
    }

    [Fact]
    public async Task A_good_part_is_not_a_defect_and_results_are_numbered_from_one()
    {
        var dark = _daemon.WriteImage("dark.png", background: 20);
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "a", image_path = dark }));
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "b", image_path = dark }));
        var results = (await Probe.WaitForAsync($"{Root}/cam1/result", count: 2)).Select(MqttProbe.Json).ToList();
        Assert.Equal(["a", "b"], results.Select(r => r.GetProperty("part_id").GetString()));
        Assert.Equal([1L, 2L], results.Select(r => r.GetProperty("seq").GetInt64()));
        Assert.All(results, r => Assert.False(r.GetProperty("defect").GetBoolean()));
        Assert.All(results, r => Assert.True(r.GetProperty("score").GetDouble() < r.GetProperty("threshold").GetDouble()));
        Assert.Empty(Probe.On($"{Root}/cam1/defect"));
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
        await Probe.PublishAsync($"{Root}/{topic}", payload, responseTopic: $"{Root}/replies/bad", correlation: correlation);
        var reply = (await Probe.WaitForAsync($"{Root}/replies/bad")).Single();
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
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "p9", image_path = missing }));
        var reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "inspect");
        Assert.Contains("is not a readable file inside the allowed folders", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("p9", reply.GetProperty("part_id").GetString());

        var corrupt = Path.Combine(_daemon.RequestsDir, "corrupt.png");
        await File.WriteAllTextAsync(corrupt, "not an image");
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "p10", image_path = corrupt }));
        reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.TryGetProperty("part_id", out var p) && p.GetString() == "p10");
        Assert.Contains("not a PNG, BMP, JPEG or TIFF image", reply.GetProperty("error").GetString(), StringComparison.Ordinal);

        await Probe.PublishAsync($"{Root}/cmd/reload", "{\"pad\":\"" + new string('x', 2000) + "\"}");
        reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "reload");
        Assert.Contains("exceeds Mqtt:MaxPayloadBytes (1024)", reply.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Messages outside the device's own tree are not requests and get no reply.
        await Probe.PublishAsync("inspection/other-device/cmd/reload", "{}");
        await AssertStillServingAsync();
        Assert.DoesNotContain(Probe.Messages, m => m.Topic == "inspection/other-device/cmd/reply");
    }

    [Fact]
    public async Task Threshold_command_changes_the_decision_and_is_recorded_in_the_retained_models_message()
    {
        // Brightness 110 gives score sigmoid(20·(110/255 − 0.5)) ≈ 0.20: good at the manifest's 0.5, a defect at 0.1.
        var grey = _daemon.WriteImage("grey.png", background: 110);
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "before", image_path = grey }));
        var before = await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "before");
        Assert.InRange(before.GetProperty("score").GetDouble(), 0.1, 0.3);
        Assert.False(before.GetProperty("defect").GetBoolean());
        Assert.Equal(0.5, before.GetProperty("threshold").GetDouble());

        await Probe.PublishAsync($"{Root}/cmd/threshold", "{\"camera\":\"cam1\",\"value\":0.1}", responseTopic: $"{Root}/replies/t");
        var reply = MqttProbe.Json((await Probe.WaitForAsync($"{Root}/replies/t")).Single());
        Assert.True(reply.GetProperty("ok").GetBoolean(), reply.ToString());
        var models = await Probe.WaitForJsonAsync($"{Root}/models", m => m.GetProperty("thresholds").GetProperty("cam1").GetDouble() == 0.1);
        Assert.Equal(0.1, models.GetProperty("threshold_overrides").GetProperty("cam1").GetDouble());
        Assert.Equal(0.5, models.GetProperty("classifier").GetProperty("threshold").GetProperty("value").GetDouble());
        Assert.Equal("cpu", models.GetProperty("provider").GetString());

        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "after", image_path = grey }));
        var after = await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "after");
        Assert.True(after.GetProperty("defect").GetBoolean());
        Assert.Equal(0.1, after.GetProperty("threshold").GetDouble());
    }

    [Fact]
    public async Task A_linked_folder_or_file_pointing_outside_the_allowed_folders_is_refused_and_tells_nothing_about_the_target()
    {
        // The old check resolved only the last path component: requests/outside/secret.png passed through a folder link.
        var secretDir = Temp.Combine("secret");
        Directory.CreateDirectory(secretDir);
        using (var secretImage = new Mat(16, 16, MatType.CV_8UC1, Scalar.All(250)))
        {
            Cv2.ImWrite(Path.Combine(secretDir, "secret.png"), secretImage);
        }

        Directory.CreateSymbolicLink(Path.Combine(_daemon.RequestsDir, "outside"), secretDir);
        File.CreateSymbolicLink(Path.Combine(_daemon.RequestsDir, "direct.png"), Path.Combine(secretDir, "secret.png"));
        File.CreateSymbolicLink(Path.Combine(_daemon.RequestsDir, "dangling.png"), Path.Combine(secretDir, "no-such.png"));
        var errors = new List<string>();
        foreach (var (part, path) in new[]
                 {
                     ("via-folder", Path.Combine(_daemon.RequestsDir, "outside", "secret.png")),
                     ("via-file", Path.Combine(_daemon.RequestsDir, "direct.png")),
                     ("dangling", Path.Combine(_daemon.RequestsDir, "dangling.png")),
                     ("missing", Path.Combine(_daemon.RequestsDir, "outside", "no-such.png")),
                 })
        {
            await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = part, image_path = path }));
            var reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.TryGetProperty("part_id", out var p) && p.GetString() == part);
            Assert.False(reply.GetProperty("ok").GetBoolean());
            errors.Add(reply.GetProperty("error").GetString()!.Replace(path, "PATH", StringComparison.Ordinal));
        }

        // One answer for an existing and a missing target: nothing is learnt about files outside.
        Assert.Single(errors.Distinct());
        Assert.Equal("image_path 'PATH' is not a readable file inside the allowed folders", errors[0]);
        Assert.Empty(Probe.On($"{Root}/cam1/result"));

        // A link that stays inside is fine.
        var inside = _daemon.WriteImage("real.png", background: 30);
        File.CreateSymbolicLink(Path.Combine(_daemon.RequestsDir, "alias.png"), inside);
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "alias", image_path = Path.Combine(_daemon.RequestsDir, "alias.png") }));
        await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == "alias");
    }

    [Theory]
    [InlineData("cmd/pause")]
    [InlineData("cmd/reload")]
    [InlineData("cam1/defect")]
    [InlineData("replies/result")]
    [InlineData("../other/replies/x")]
    public async Task A_response_topic_among_the_daemons_own_topics_or_outside_the_reply_tree_is_refused_on_cmd_reply(string responseTopic)
    {
        // The old daemon answered anywhere: a request answered on its own cmd/pause paused the camera with its own reply.
        var topic = responseTopic.StartsWith("../", StringComparison.Ordinal) ? $"inspection/{responseTopic[3..]}" : $"{Root}/{responseTopic}";
        var image = _daemon.WriteImage("hijack.png", background: 220);
        var part = "hijack-" + Guid.NewGuid().ToString("N")[..6];
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = part, image_path = image }), responseTopic: topic, correlation: [9]);
        var reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.TryGetProperty("part_id", out var p) && p.GetString() == part);
        Assert.False(reply.GetProperty("ok").GetBoolean());
        Assert.Contains($"response topic '{topic}'", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(Probe.On(topic));
        await Probe.PublishAsync($"{Root}/cmd/pause", "{}", responseTopic: $"{Root}/cmd/reload");
        await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.GetProperty("command").GetString() == "pause" && r.TryGetProperty("error", out _));
        Assert.False(_daemon.Host!.Services.GetService(typeof(Inspection.Daemon.Pipeline.CameraPipelines)) is Inspection.Daemon.Pipeline.CameraPipelines cameras && cameras.Find("cam1")!.Paused);
        Assert.Empty(Probe.On($"{Root}/cmd/reload"));
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task An_image_whose_header_declares_more_pixels_than_allowed_is_refused_before_decoding()
    {
        // A 100 KB PNG of 10000 x 10000 grey pixels (three times the allowed 33 M): the old daemon decoded whatever it was
        // given, here into a 300 MB colour picture. (OpenCV's own cap, 2^30 pixels, refuses only far larger ones.)
        var bomb = Path.Combine(_daemon.RequestsDir, "bomb.png");
        await File.WriteAllBytesAsync(bomb, PngBomb(10_000, 10_000));
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = "bomb", image_path = bomb }));
        var reply = await Probe.WaitForJsonAsync($"{Root}/cmd/reply", r => r.TryGetProperty("part_id", out var p) && p.GetString() == "bomb");
        Assert.Contains("10000x10000 pixels, more than the 33177600 allowed (Inspect:MaxImagePixels)", reply.GetProperty("error").GetString(), StringComparison.Ordinal);
        await AssertStillServingAsync();
    }

    // A valid PNG of width x height grey pixels, all zero, deflate-compressed (about 1 KB per 1000 x 1000 pixels), every
    // row present, so a decoder that accepts it fills the whole picture.
    private static byte[] PngBomb(int width, int height)
    {
        using var raw = new MemoryStream();
        using (var deflate = new System.IO.Compression.ZLibStream(raw, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var row = new byte[width + 1];
            for (var y = 0; y < height; y++)
            {
                deflate.Write(row);
            }
        }

        byte[] Chunk(string type, byte[] data)
        {
            var chunk = new byte[12 + data.Length];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
            Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
            data.CopyTo(chunk, 8);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), System.IO.Hashing.Crc32.HashToUInt32(chunk.AsSpan(4, 4 + data.Length)));
            return chunk;
        }

        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        return [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", header), .. Chunk("IDAT", raw.ToArray()), .. Chunk("IEND", [])];
    }

    private async Task AssertStillServingAsync()
    {
        var partId = Guid.NewGuid().ToString("N");
        var image = _daemon.WriteImage($"{partId}.png", background: 30);
        await Probe.PublishAsync($"{Root}/inspect", JsonSerializer.Serialize(new { part_id = partId, image_path = image }));
        await Probe.WaitForJsonAsync($"{Root}/cam1/result", r => r.GetProperty("part_id").GetString() == partId);
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
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP005:Return type should indicate that the value should be disposed", Justification = TestOwnership.JsonEnumerator)]
    public static IEnumerable<JsonElement> EnumerateArray(this JsonElement element, string property) => element.GetProperty(property).EnumerateArray();
}
