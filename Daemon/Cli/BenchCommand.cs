using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Loading;
using Inspection.Daemon.Benchmarks;

namespace Inspection.Daemon.Cli;

/// <summary><c>inspectiond bench</c>: the real pipeline as fast as it goes, per-stage latency, allocations, RSS, the
/// model-only bound; <c>--soak MINUTES</c> samples memory and handles and prints their growth rate.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var config = DaemonCli.ConfigOption();
        var frames = new Option<int>("--frames") { Description = "measured frames per camera (after a short warm-up)", DefaultValueFactory = _ => 300 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of a table" };
        var cameras = new Option<int>("--cameras") { Description = "run K copies of the config's first camera at once (0: the config's cameras)", DefaultValueFactory = _ => 1 };
        var soak = new Option<double>("--soak") { Description = "run this many minutes and report the RSS, handle and GC heap slopes" };
        var console = new Option<bool>("--console") { Description = "run twice in this process: without, then with the operator console (HTTP server polled like an open page plus a /metrics scrape, and the SQLite history); print both and the fps ratio" };
        var broker = new Option<string>("--broker") { Description = "where results go: 'in-process' (an MQTTnet broker in this process, the default), 'mosquitto' (a Mosquitto started for the run, so the broker's CPU is outside the daemon as in a deployment) or HOST:PORT (a running broker, anonymous, no TLS)", DefaultValueFactory = _ => BrokerChoice.InProcess };
        var command = new Command("bench", "Benchmark the pipeline (capture → preprocess → classify → segment → postprocess → publish) on the config's models and first camera's source");
        command.Options.Add(config);
        command.Options.Add(frames);
        command.Options.Add(json);
        command.Options.Add(cameras);
        command.Options.Add(soak);
        command.Options.Add(console);
        command.Options.Add(broker);
        command.SetAction(parse =>
        {
            if (parse.GetValue(frames) < 1 || parse.GetValue(cameras) < 0 || parse.GetValue(soak) < 0)
            {
                Console.Error.WriteLine("inspectiond bench: --frames must be at least 1, --cameras and --soak not negative");
                return ConfigException.ExitCode;
            }

            BrokerChoice brokerChoice;
            try
            {
                brokerChoice = BrokerChoice.Parse(parse.GetValue(broker)!);
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"inspectiond bench: {ex.Message}");
                return ConfigException.ExitCode;
            }

            var path = parse.GetValue(config)!;
            return DaemonCli.WithConfig(path, options =>
                Run(path, new BenchSettings(options, parse.GetValue(frames), parse.GetValue(cameras), parse.GetValue(soak), brokerChoice), parse.GetValue(console), parse.GetValue(json)));
        });
        return command;
    }

    private static int Run(string configPath, BenchSettings settings, bool console, bool json)
    {
        JsonObject report;
        try
        {
            report = console
                ? CompareConsole(configPath, settings)
                : new BenchRun(settings, Console.Error).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Config.Models.ModelPackageException ex)
        {
            var models = settings.Options.Models.Directory;
            Console.Error.WriteLine($"inspectiond bench: {ex.Message}");
            Console.Error.WriteLine($"inspectiond bench: make models with 'trainer quickstart --out {models}' (small trained demo models) " +
                $"or 'trainer bench --export-models {models}' (the benchmarked networks, untrained: they cost the same to run)");
            return 1;
        }
        catch (Exception ex) when (ex is ArgumentException or TimeoutException)
        {
            Console.Error.WriteLine($"inspectiond bench: {ex.Message}");
            return 1;
        }

        Console.Out.WriteLine(json ? report.ToJsonString()
            : report["console_ratio"] is { } ratio ? $"{Table(report["console_off"]!.AsObject())}\n\nwith the console:\n{Table(report["console_on"]!.AsObject())}\n\n{"console_ratio (fps on / off)",-36}{ratio}"
            : Table(report));
        return report["failures"] is null && report["console_off"]?["failures"] is null && report["console_on"]?["failures"] is null ? 0 : 1;
    }

    // Off first, then on, each on a freshly loaded config (a run rewrites its options to isolate itself).
    private static JsonObject CompareConsole(string path, BenchSettings settings)
    {
        JsonObject Run(bool on)
        {
            var options = ConfigLoader.Load(path);
            options.Http.Listen = on ? "127.0.0.1:0" : "";
            options.History.Enabled = on;
            Console.Error.WriteLine($"bench: console {(on ? "on (HTTP polled, history indexed)" : "off (no HTTP server, no history)")}");
            return new BenchRun(settings with { Options = options }, Console.Error).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        }

        var off = Run(on: false);
        var on = Run(on: true);
        var offFps = (double)off["fps"]!;
        return new JsonObject
        {
            ["console_off"] = off,
            ["console_on"] = on,
            ["console_ratio"] = offFps > 0 ? Math.Round((double)on["fps"]! / offFps, 3) : null,
        };
    }

    /// <summary>The report for people: one line per stage, then the headline figures.</summary>
    public static string Table(JsonObject report)
    {
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{report["cameras"]} camera(s), {report["source"]}, {report["provider"]}, {report["cores"]} cores, broker {report["broker"]}"),
            $"{"stage",-14}{"p50 ms",10}{"p95 ms",10}{"p99 ms",10}{"count",9}",
        };
        foreach (var (name, stage) in report["stages"]!.AsObject())
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{name,-14}{(double)stage!["p50_ms"]!,10:F2}{(double)stage["p95_ms"]!,10:F2}{(double)stage["p99_ms"]!,10:F2}{(long)stage["count"]!,9}"));
        }

        foreach (var key in new[] { "fps", "model_only_fps", "overhead_ratio", "segmented_fraction", "allocated_bytes_per_frame", "inspect_allocated_bytes_per_frame", "peak_rss_bytes" })
        {
            lines.Add($"{key,-36}{report[key]?.ToJsonString() ?? "-"}");
        }

        if (report["cpu_by_thread_ms_per_frame"] is JsonObject threads && threads["end_to_end"] is JsonObject e2e && threads["model_only"] is JsonObject model)
        {
            lines.Add($"{"CPU ms/frame by thread group",-36}{"end to end",12}{"model-only",12}{"difference",12}");
            foreach (var (group, value) in e2e.Where(p => p.Value is JsonValue))
            {
                var modelValue = (double?)model[group];
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"  {group,-34}{(double)value!,12:F2}{(modelValue is null ? "-" : modelValue.Value.ToString("F2", CultureInfo.InvariantCulture)),12}{(modelValue is null ? "" : ((double)value! - modelValue.Value).ToString("F2", CultureInfo.InvariantCulture)),12}"));
            }
        }

        foreach (var key in new[] { "batching", "accounting", "console", "failures" })
        {
            if (report[key] is { } node)
            {
                lines.Add($"{key,-36}{node.ToJsonString()}");
            }
        }

        if (report["soak"] is JsonObject soak)
        {
            var summary = soak.Where(p => p.Key != "series").ToDictionary(p => p.Key, p => p.Value?.ToJsonString());
            lines.Add($"{"soak",-36}{JsonSerializer.Serialize(summary)}");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
