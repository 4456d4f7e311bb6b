using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

public sealed class ConfigLoaderTests : IDisposable
{
    private readonly TempDirectory _dir = new("config");

    public void Dispose() => _dir.Dispose();

    private string Write(string json)
    {
        var path = _dir.Combine($"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static ConfigException LoadFails(string path, Dictionary<string, string?>? env = null) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, env ?? []));

    [Fact]
    public void Example_config_with_comments_loads_and_validates()
    {
        var options = ConfigLoader.Load(Repository.ExampleConfig, new Dictionary<string, string?>());

        Assert.Equal("inspection", options.Mqtt.TopicPrefix);
        Assert.Equal(1883, options.Mqtt.Port);
        var camera = Assert.Single(options.Cameras);
        Assert.Equal("cam1", camera.Id);
        Assert.StartsWith("synthetic://", camera.Source, StringComparison.Ordinal);
        Assert.Equal(TriggerMode.Stream, camera.Trigger);
        Assert.Equal(ModelProvider.Auto, options.Models.Provider);
        Assert.Equal(TimeSpan.FromDays(30), options.Snapshots.MaxAge);
        Assert.Equal(0.99, options.Trainer.RecallTarget);
        Assert.Equal(256, options.Trainer.Segmenter.ImageSize);
    }

    [Fact]
    public void Environment_overrides_the_file_including_list_entries()
    {
        var env = new Dictionary<string, string?>
        {
            ["INSPECTION__Mqtt__Host"] = "broker.example",
            ["INSPECTION__Mqtt__Port"] = "8883",
            ["INSPECTION__Cameras__0__Source"] = "file:///data/line1.mp4?loop=true",
            ["INSPECTION__Cameras__1__Id"] = "cam2",
            ["INSPECTION__Cameras__1__Source"] = "dir:///data/replay",
            ["OTHER__Mqtt__Host"] = "ignored",
        };

        var options = ConfigLoader.Load(Repository.ExampleConfig, env);

        Assert.Equal("broker.example", options.Mqtt.Host);
        Assert.Equal(8883, options.Mqtt.Port);
        Assert.Equal("file:///data/line1.mp4?loop=true", options.Cameras[0].Source);
        Assert.Equal("cam1", options.Cameras[0].Id);
        Assert.Equal(["cam1", "cam2"], options.Cameras.Select(c => c.Id));
    }

    [Fact]
    public void Process_environment_is_read_with_the_INSPECTION_prefix()
    {
        var name = "INSPECTION__Mqtt__TopicPrefix";
        Environment.SetEnvironmentVariable(name, "plant7");
        try
        {
            Assert.Equal("plant7", ConfigLoader.Load(Repository.ExampleConfig).Mqtt.TopicPrefix);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void Misspelt_keys_are_all_named_with_their_full_path()
    {
        var path = Write("""{ "Mqtt": { "Hots": "x", "Tls": { "CAFile2": "" } }, "Cameras": [ { "Id": "a", "Source": "synthetic://", "Fps": 3 } ], "Modles": {} }""");

        var ex = LoadFails(path);

        var keys = ex.Errors.Select(e => e.Key).ToList();
        Assert.Contains("Mqtt:Hots", keys);
        Assert.Contains("Mqtt:Tls:CAFile2", keys);
        Assert.Contains("Cameras:0:Fps", keys);
        Assert.Contains("Modles", keys);
        Assert.Contains("known keys here", ex.Errors.First(e => e.Key == "Cameras:0:Fps").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unconvertible_value_names_key_and_expected_form()
    {
        var path = Write("""{ "Mqtt": { "Port": "eighteen" } }""");

        var error = Assert.Single(LoadFails(path).Errors);

        Assert.Equal("Mqtt:Port", error.Key);
        Assert.Contains("whole number", error.Message, StringComparison.Ordinal);
        Assert.Contains("eighteen", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "Mqtt": { "Port": 70000 } }""", "Mqtt:Port")]
    [InlineData("""{ "Mqtt": { "TopicPrefix": "a/b" } }""", "Mqtt:TopicPrefix")]
    [InlineData("""{ "Mqtt": { "SharedInspectTopic": "inspection/+/inspect" } }""", "Mqtt:SharedInspectTopic")]
    [InlineData("""{ "Mqtt": { "SharedInspectTopic": "$share/inspectors/inspection/pool/inspect" } }""", "Mqtt:SharedInspectTopic")]
    [InlineData("""{ "Mqtt": { "SharedInspectTopic": "inspection/pool/inspect", "ShareGroup": "a/b" } }""", "Mqtt:ShareGroup")]
    [InlineData("""{ "Mqtt": { "ShareGroup": "" } }""", "Mqtt:ShareGroup")]
    [InlineData("""{ "Cameras": [ { "Id": "c", "Source": "ftp://x/y" } ] }""", "Cameras:0:Source")]
    [InlineData("""{ "Cameras": [ { "Id": "c", "Source": "synthetic://" }, { "Id": "c", "Source": "synthetic://" } ] }""", "Cameras:1:Id")]
    [InlineData("""{ "Cameras": [ { "Id": "c", "Source": "synthetic://", "Trigger": "sometimes" } ] }""", "Cameras:0:Trigger")]
    [InlineData("""{ "Models": { "Provider": "tpu" } }""", "Models:Provider")]
    [InlineData("""{ "Trainer": { "RecallTarget": 1.5 } }""", "Trainer:RecallTarget")]
    [InlineData("""{ "Trainer": { "Segmenter": { "ImageSize": 100 } } }""", "Trainer:Segmenter:ImageSize")]
    [InlineData("""{ "Trainer": { "Segmenter": { "ImageSize": 48 } } }""", "Trainer:Segmenter:ImageSize")]
    [InlineData("""{ "Pipeline": { "ShutdownTimeout": "soon" } }""", "Pipeline:ShutdownTimeout")]
    [InlineData("""{ "Inspect": { "AllowedFolders": [ "relative/dir" ] } }""", "Inspect:AllowedFolders:0")]
    [InlineData("""{ "Inspect": { "MaxImagePixels": 100 } }""", "Inspect:MaxImagePixels")]
    [InlineData("""{ "Mqtt": { "ResponseTopicPrefixes": [ "inspection/+/replies/" ] } }""", "Mqtt:ResponseTopicPrefixes:0")]
    [InlineData("""{ "Mqtt": { "ResponseTopicPrefixes": [ "plc/answers" ] } }""", "Mqtt:ResponseTopicPrefixes:0")]
    [InlineData("""{ "Mqtt": { "Tls": { "CaFile": "/nonexistent/ca.pem" } } }""", "Mqtt:Tls:CaFile")]
    public void Invalid_values_are_reported_by_key(string json, string key)
    {
        var ex = LoadFails(Write(json));

        Assert.Contains(ex.Errors, e => e.Key == key);
        Assert.Contains($"config error: {key}:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_and_broken_json_are_clear()
    {
        var missing = LoadFails(_dir.Combine("nope.json"));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var broken = LoadFails(Write("{ \"Mqtt\": { \"Host\": "));
        Assert.Contains("not valid JSON", broken.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Effective_settings_mask_user_and_stream_passwords()
    {
        var env = new Dictionary<string, string?>
        {
            ["INSPECTION__Mqtt__Username"] = "line-controller",
            ["INSPECTION__Cameras__0__Source"] = "rtsp://admin:hunter2@10.0.0.5/stream1?transport=tcp",
        };
        var options = ConfigLoader.Load(Repository.ExampleConfig, env);

        var json = EffectiveSettings.ToJson(options);

        Assert.DoesNotContain("hunter2", json, StringComparison.Ordinal);
        Assert.DoesNotContain("line-controller", json, StringComparison.Ordinal);
        Assert.Contains("rtsp://admin:***@10.0.0.5/stream1?transport=tcp", json, StringComparison.Ordinal);
        Assert.Contains("\"Host\": \"127.0.0.1\"", json, StringComparison.Ordinal);
    }
}

public sealed class SecretsTests
{
    [Fact]
    public void Bare_name_is_read_from_the_systemd_credentials_directory_without_trailing_newline()
    {
        using var dir = new TempDirectory("creds");
        File.WriteAllText(dir.Combine("mqtt-password"), "pa55word\n");

        var secret = Secrets.Read("Mqtt:PasswordFile", "mqtt-password", new Dictionary<string, string?> { ["CREDENTIALS_DIRECTORY"] = dir.Path });

        Assert.Equal("pa55word", secret);
    }

    [Fact]
    public void Missing_secret_file_names_the_key_and_path()
    {
        var ex = Assert.Throws<ConfigException>(() => Secrets.Read("Mqtt:PasswordFile", "/nonexistent/pw", new Dictionary<string, string?>()));

        Assert.Equal("Mqtt:PasswordFile", Assert.Single(ex.Errors).Key);
        Assert.Contains("/nonexistent/pw", ex.Message, StringComparison.Ordinal);
    }
}
