using System.Diagnostics;
using System.Text.Json;
using Inspection.Daemon.Cli;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>The <c>inspectiond</c> process as systemd and operators run it.</summary>
public sealed class ProcessTests
{
    private static readonly string Daemon = Path.Combine(AppContext.BaseDirectory, "inspectiond.dll");

    [RequiresToolFact("kill")]
    public async Task Sigterm_stops_the_daemon_cleanly_within_its_deadline_and_it_says_offline()
    {
        using var temp = new TempDirectory("daemon-sigterm");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(temp, broker.Port);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        var config = WriteConfig(daemon);
        await using var probe = await MqttProbe.ConnectAsync(broker.Port);

        using var process = Tools.Start("dotnet", [Daemon, "run", "--config", config]);
        var output = CollectOutput(process);
        await probe.WaitForAsync($"{DaemonUnderTest.Root}/status", m => MqttProbe.Text(m) == "online", seconds: 60);
        var image = daemon.WriteImage("p.png", 220);
        await probe.PublishAsync($"{DaemonUnderTest.Root}/inspect", JsonSerializer.Serialize(new { part_id = "last", image_path = image }));
        await probe.WaitForAsync($"{DaemonUnderTest.Root}/file/result");

        var stopwatch = Stopwatch.StartNew();
        Tools.Run("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var exited = process.WaitForExit(daemon.Options.Pipeline.ShutdownTimeout + TimeSpan.FromSeconds(5));
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
        }

        Assert.True(exited, $"no exit within the shutdown deadline; output:\n{output}");
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; output:\n{output}");
        Assert.True(stopwatch.Elapsed < daemon.Options.Pipeline.ShutdownTimeout, $"shutdown took {stopwatch.Elapsed}");
        Assert.Equal("offline", MqttProbe.Text(probe.On($"{DaemonUnderTest.Root}/status").Last()));
        Assert.Contains("publisher stopped", output.ToString(), StringComparison.Ordinal);
    }

    [RequiresToolFact("kill", "mosquitto_sub", "mosquitto_pub")]
    public async Task Demo_runs_an_embedded_broker_and_a_synthetic_camera_and_the_commands_it_prints_work()
    {
        using var temp = new TempDirectory("daemon-demo");
        var models = temp.Combine("models");
        TinyOnnx.WriteCurrent(models, "demo-v1");
        var port = Tools.FreePort();
        using var process = Tools.Start("dotnet", [Daemon, "demo", "--models", models, "--data", temp.Combine("data"), "--port", $"{port}",
            "--source", "synthetic://?width=96&height=64&fps=10&defect_rate=0.5&seed=2"]);
        var output = CollectOutput(process);
        MqttProbe? probe = null;
        try
        {
            for (var i = 0; i < 100 && probe is null; i++)
            {
                try
                {
                    probe = await MqttProbe.ConnectAsync(port, "inspection/#");
                }
                catch (MQTTnet.Exceptions.MqttCommunicationException)
                {
                    await Task.Delay(200);
                }
            }

            Assert.NotNull(probe);
            var results = await probe.WaitForAsync("inspection/demo/cam1/result", count: 3, seconds: 60);
            // The probe may subscribe after the first frames were published (nothing is retained); those it sees follow on.
            var seqs = results.Select(r => MqttProbe.Json(r).GetProperty("seq").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range((int)seqs[0], seqs.Count).Select(i => (long)i), seqs);

            // An operator copies the printed commands: Mosquitto's own clients, with no client id of their own.
            var watched = Tools.Run("bash", "-c", PrintedCommand(output, "watch everything:") + " -C 1 -W 30");
            Assert.StartsWith("inspection/demo/", watched, StringComparison.Ordinal);
            Tools.Run("bash", "-c", PrintedCommand(output, "ask for a part:"));
            var answer = await probe.WaitForJsonAsync("inspection/demo/cam1/result", r => r.TryGetProperty("part_id", out var part) && part.GetString() == "4711", seconds: 30);
            Assert.True(answer.GetProperty("seq").GetInt64() > 0);
        }
        finally
        {
            if (probe is not null)
            {
                await probe.DisposeAsync();
            }

            Tools.Run("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; output:\n{output}");
    }

    [Fact]
    public void Run_exits_78_naming_the_key_for_a_bad_config_and_1_for_unusable_models()
    {
        using var temp = new TempDirectory("daemon-bad-config");
        var bad = temp.Combine("bad.json");
        File.WriteAllText(bad, "{\"Mqtt\": {\"Port\": 0}, \"Pipeline\": {\"ShutdownTimout\": \"00:00:05\"}}");
        var error = Assert.Throws<InvalidOperationException>(() => Tools.Run("dotnet", Daemon, "run", "--config", bad));
        Assert.Contains("exited 78", error.Message, StringComparison.Ordinal);
        Assert.Contains("Pipeline:ShutdownTimout: unknown key", error.Message, StringComparison.Ordinal);

        var daemon = new DaemonUnderTest(temp, Tools.FreePort());
        var config = WriteConfig(daemon);
        error = Assert.Throws<InvalidOperationException>(() => Tools.Run("dotnet", Daemon, "run", "--config", config));
        Assert.Contains("exited 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("no current classifier package", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_mqtt_password_file_is_a_config_error_naming_the_key()
    {
        using var temp = new TempDirectory("daemon-secret");
        var daemon = new DaemonUnderTest(temp, Tools.FreePort());
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        daemon.Options.Mqtt.Username = "inspector";
        daemon.Options.Mqtt.PasswordFile = temp.Combine("no-such-password");
        var stderr = Console.Error;
        using var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            Assert.Equal(78, await DaemonHost.RunAsync(daemon.Options));
        }
        finally
        {
            Console.SetError(stderr);
        }

        Assert.Contains("Mqtt:PasswordFile: cannot read secret file", captured.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_without_models_says_how_to_make_them()
    {
        using var temp = new TempDirectory("daemon-demo-empty");
        var error = Assert.Throws<InvalidOperationException>(() => Tools.Run("dotnet", Daemon, "demo", "--models", temp.Combine("none"), "--data", temp.Path, "--port", $"{Tools.FreePort()}"));
        Assert.Contains("trainer quickstart --out", error.Message, StringComparison.Ordinal);
        Assert.Contains("exited 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_subcommand_prints_one_result_per_image_and_names_a_file_it_cannot_read()
    {
        using var temp = new TempDirectory("daemon-inspect-cli");
        var daemon = new DaemonUnderTest(temp, 1883);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v7");
        var bright = daemon.WriteImage("bright.png", 100, new OpenCvSharp.Rect(0, 0, 40, 40));
        var dark = daemon.WriteImage("dark.png", 10);
        var broken = Path.Combine(daemon.RequestsDir, "broken.jpg");
        File.WriteAllText(broken, "JFIF?");
        using var output = new StringWriter();
        using var errors = new StringWriter();

        var code = ServiceCommands.InspectFiles(daemon.Options, [bright, broken, dark], output, errors);

        Assert.Equal(1, code);
        Assert.Contains("broken.jpg", errors.ToString(), StringComparison.Ordinal);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count);
        Assert.True(lines[0].GetProperty("defect").GetBoolean());
        Assert.False(lines[1].GetProperty("defect").GetBoolean());
        foreach (var field in new[] { "id", "device", "camera", "seq", "frame_seq", "part_id", "captured_at", "defect", "score", "threshold", "models", "segmentation", "latency_ms" })
        {
            Assert.True(lines[0].TryGetProperty(field, out _), $"result lacks '{field}': {lines[0]}");
        }

        var segmentation = lines[0].GetProperty("segmentation");
        var region = segmentation.GetProperty("regions")[0];
        Assert.Equal(0, region.GetProperty("x").GetInt32());
        Assert.InRange(region.GetProperty("width").GetInt32(), 38, 42);
        Assert.InRange(segmentation.GetProperty("coverage").GetDouble(), 0.35, 0.43);
        Assert.Equal(0.0, lines[1].GetProperty("segmentation").GetProperty("coverage").GetDouble());
        Assert.Equal("v7", lines[1].GetProperty("models").GetProperty("segmenter").GetString());
    }

    /// <summary>The options as a JSON config file (what <c>inspectiond run --config</c> reads).</summary>
    public static string WriteConfig(DaemonUnderTest daemon)
    {
        var o = daemon.Options;
        var config = new
        {
            Mqtt = new { o.Mqtt.Host, o.Mqtt.Port, o.Mqtt.Device, ReconnectMinDelay = "00:00:00.1", ReconnectMaxDelay = "00:00:00.5", StatsInterval = "00:00:01" },
            Cameras = o.Cameras.Select(c => new { c.Id, c.Source, Trigger = c.Trigger.ToString().ToLowerInvariant() }),
            Models = new { o.Models.Directory, Provider = "cpu", Threads = 1 },
            Outbox = new { o.Outbox.Directory },
            Snapshots = new { o.Snapshots.Directory },
            Inspect = new { o.Inspect.AllowedFolders },
            Pipeline = new { ShutdownTimeout = o.Pipeline.ShutdownTimeout.ToString("c"), o.Pipeline.ResultQueueCapacity },
            Http = new { o.Http.Listen },
            Review = new { o.Review.Directory, o.Review.DatasetDirectory },
        };
        var path = daemon.Temp.Combine("inspection.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    internal static System.Text.StringBuilder CollectOutput(Process process)
    {
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return output;
    }

    private static string PrintedCommand(System.Text.StringBuilder output, string label)
    {
        string text;
        lock (output)
        {
            text = output.ToString();
        }

        var line = text.Split('\n').Single(l => l.Contains(label, StringComparison.Ordinal));
        return line[(line.IndexOf(label, StringComparison.Ordinal) + label.Length)..].Trim();
    }
}
