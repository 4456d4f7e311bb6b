using System.CommandLine;
using System.Text;
using Inspection.Camera.Preprocessing;
using Inspection.Config.Loading;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Cli;

/// <summary><c>inspectiond run</c> (the service; also what a bare <c>inspectiond</c> does), <c>inspect</c> (models on
/// image files, one result JSON per line) and <c>demo</c> (everything on an embedded default).</summary>
internal static class ServiceCommands
{
    public static void Register(RootCommand root)
    {
        var rootConfig = DaemonCli.ConfigOption();
        root.Options.Add(rootConfig);
        root.SetAction(parse => Run(parse.GetValue(rootConfig)!));
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(InspectCommand());
        root.Subcommands.Add(DemoCommand());
    }

    private static Command RunCommand()
    {
        var config = DaemonCli.ConfigOption();
        var command = new Command("run", "Run the daemon (the systemd service's command): cameras → models → MQTT, until SIGTERM");
        command.Options.Add(config);
        command.SetAction(parse => Run(parse.GetValue(config)!));
        return command;
    }

    // Synchronous actions on purpose: System.CommandLine then leaves SIGTERM to the host, whose shutdown (drain, flush,
    // offline) may take up to Pipeline:ShutdownTimeout.
    private static int Run(string configPath) =>
        DaemonCli.WithConfig(configPath, options => DaemonHost.RunAsync(options).GetAwaiter().GetResult());

    private static Command InspectCommand()
    {
        var config = DaemonCli.ConfigOption();
        var images = new Argument<string[]>("IMAGE") { Description = "image files to inspect", Arity = ArgumentArity.OneOrMore };
        var command = new Command("inspect", "Run the models on image files and print one result JSON per line (no camera, no MQTT)");
        command.Options.Add(config);
        command.Arguments.Add(images);
        command.SetAction(parse => DaemonCli.WithConfig(parse.GetValue(config)!, options => InspectFiles(options, parse.GetValue(images)!, Console.Out, Console.Error)));
        return command;
    }

    /// <summary>Inspects each file (segmenter always run) and writes one result per line; a file that cannot be read is
    /// reported on <paramref name="errors"/> by name and the rest go on. Returns 0, or 1 when any file failed.</summary>
    public static int InspectFiles(InspectionOptions options, IReadOnlyList<string> files, TextWriter output, TextWriter errors)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).AddFilter(l => l >= LogLevel.Information)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
        using var store = new ModelStore(options.Models, TimeProvider.System, loggers.CreateLogger<ModelStore>());
        try
        {
            store.LoadInitial();
        }
        catch (ModelPackageException ex)
        {
            errors.WriteLine($"inspectiond inspect: {ex.Message}");
            return 1;
        }

        using var runner = new InspectionRunner(store, options.Pipeline, snapshots: null, DeviceName.Of(options.Mqtt));
        var failed = 0;
        for (var i = 0; i < files.Count; i++)
        {
            var path = Path.GetFullPath(files[i]);
            try
            {
                using var image = ImageFiles.Read(path);
                var result = runner.Inspect(image, "file", 0, new DateTimeOffset(File.GetLastWriteTimeUtc(path)), null, path, forceSegmentation: true) with { Seq = i + 1 };
                output.WriteLine(Encoding.UTF8.GetString(ResultJsonContext.Serialize(result)));
            }
            catch (ImageReadException ex)
            {
                failed++;
                errors.WriteLine($"inspectiond inspect: {ex.Message}");
            }
        }

        return failed == 0 ? 0 : 1;
    }

    private static Command DemoCommand()
    {
        var models = new Option<string>("--models") { Description = "model packages folder (classifier/current, segmenter/current)", DefaultValueFactory = _ => "artifacts/demo/models" };
        var data = new Option<string>("--data") { Description = "folder for the demo's outbox, snapshots and request images", DefaultValueFactory = _ => "artifacts/demo" };
        var port = new Option<int>("--port") { Description = "port of the embedded MQTT broker on 127.0.0.1", DefaultValueFactory = _ => 1883 };
        var source = new Option<string>("--source") { Description = "camera source URI", DefaultValueFactory = _ => "synthetic://?width=640&height=480&fps=5" };
        var http = new Option<string>("--http") { Description = "operator console address:port (empty: off)", DefaultValueFactory = _ => "127.0.0.1:8080" };
        var cameras = new Option<int>("--cameras") { Description = "number of cameras, all on --source (cam1, cam2, …)", DefaultValueFactory = _ => 1 };
        var command = new Command("demo", "Run everything on an embedded default: in-process MQTT broker, a synthetic camera, the demo models, the operator console");
        command.Options.Add(http);
        command.Options.Add(cameras);
        command.Options.Add(models);
        command.Options.Add(data);
        command.Options.Add(port);
        command.Options.Add(source);
        command.SetAction(parse =>
        {
            var options = DemoOptions(Path.GetFullPath(parse.GetValue(models)!), Path.GetFullPath(parse.GetValue(data)!), parse.GetValue(port), parse.GetValue(source)!, parse.GetValue(cameras));
            options.Http.Listen = parse.GetValue(http)!;
            var problems = ConfigValidator.Validate(options);
            if (problems.Count > 0)
            {
                Console.Error.WriteLine(string.Join(Environment.NewLine, problems));
                return ConfigException.ExitCode;
            }

            if (ModelPackage.ResolveCurrent(options.Models.Directory, ModelTasks.Classifier) is null || ModelPackage.ResolveCurrent(options.Models.Directory, ModelTasks.Segmenter) is null)
            {
                Console.Error.WriteLine($"inspectiond demo: no current model packages in {options.Models.Directory}; train small demo models with 'trainer quickstart --out {options.Models.Directory}' (./run.sh does this)");
                return 1;
            }

            var root = $"{options.Mqtt.TopicPrefix}/{options.Mqtt.Device}";
            Console.WriteLine($$"""
                inspectiond demo: broker on 127.0.0.1:{{options.Mqtt.Port}}, camera {{options.Cameras[0].Id}} = {{options.Cameras[0].Source}}, models from {{options.Models.Directory}}
                  watch everything:   mosquitto_sub -V mqttv5 -h 127.0.0.1 -p {{options.Mqtt.Port}} -t 'inspection/#' -v
                  ask for a part:     mosquitto_pub -V mqttv5 -h 127.0.0.1 -p {{options.Mqtt.Port}} -t {{root}}/inspect -m '{"part_id":"4711"}'
                  change threshold:   mosquitto_pub -V mqttv5 -h 127.0.0.1 -p {{options.Mqtt.Port}} -t {{root}}/cmd/threshold -m '{"camera":"cam1","value":0.3}'
                  snapshots:          {{options.Snapshots.Directory}}
                  operator console:   {{(options.Http.Listen.Length > 0 ? $"http://{options.Http.Listen}/" : "off")}}
                Ctrl-C stops it.
                """);
            return DaemonHost.RunAsync(options).GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>The demo's configuration: embedded broker, one synthetic camera, everything written under <paramref name="data"/>.</summary>
    public static InspectionOptions DemoOptions(string modelsDirectory, string data, int port, string source, int cameras = 1) => new()
    {
        Mqtt = new MqttOptions { Host = "127.0.0.1", Port = port, Device = "demo", Embedded = true, StatsInterval = TimeSpan.FromSeconds(10) },
        Cameras = [.. Enumerable.Range(1, Math.Max(1, cameras)).Select(i => new CameraOptions { Id = $"cam{i}", Source = source })],
        Review = new ReviewOptions { Directory = Path.Combine(data, "review"), DatasetDirectory = Path.Combine(data, "dataset") },
        Models = new ModelsOptions { Directory = modelsDirectory, Provider = ModelProvider.Auto },
        Outbox = new OutboxOptions { Directory = Path.Combine(data, "outbox") },
        Snapshots = new SnapshotsOptions { Directory = Path.Combine(data, "snapshots"), MaxCount = 500, MaxAge = TimeSpan.FromDays(1) },
        Inspect = new InspectOptions { AllowedFolders = [Path.Combine(data, "requests")] },
        Pipeline = new PipelineOptions { ShutdownTimeout = TimeSpan.FromSeconds(10) },
    };
}
