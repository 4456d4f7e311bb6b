using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Benchmarks;

/// <summary>What to benchmark.</summary>
/// <param name="Options">The loaded config: its models, pipeline and snapshot settings and its first camera's source.</param>
/// <param name="Frames">Measured frames per camera (after the warm-up); ignored by a soak.</param>
/// <param name="Cameras">Cameras run at once (copies of the config's first camera); 0 = the config's cameras as they are.</param>
/// <param name="SoakMinutes">0 for a throughput run; otherwise run this long and sample memory and handles.</param>
/// <param name="Broker">Where results go (null: the in-process broker).</param>
/// <param name="WaitForJit">Warm up until the JIT is done with the frame path (<see cref="WarmUp"/>), not only a few frames.</param>
internal sealed record BenchSettings(InspectionOptions Options, int Frames, int Cameras, double SoakMinutes, BrokerChoice? Broker = null, bool WaitForJit = true);

/// <summary>
/// Runs the daemon's own host (models, result sink, publisher with its outbox, MQTT connection, snapshot writer, stats)
/// against a broker (in-process on loopback, or in another process: <see cref="BrokerChoice"/>), feeds it from one <see cref="CameraLane"/> per camera as fast as the
/// pipeline takes frames, and measures every stage; then measures the model-only bound on the same sessions.
/// Outbox and snapshots go to a temporary folder that is removed afterwards.
/// </summary>
internal sealed class BenchRun(BenchSettings settings, TextWriter progress)
{
    private const int MaxWarmUp = 20;
    private static readonly TimeSpan JitQuiet = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(60);
    private const int PublishBurst = 200;
    private readonly WarmUp _warmth = settings.SoakMinutes > 0 || !settings.WaitForJit ? WarmUp.None : new WarmUp(JitQuiet, WarmUpLimit);

    public async Task<JsonObject> RunAsync(CancellationToken ct)
    {
        var options = settings.Options;

        // Missing or broken packages are named before anything starts, instead of after the host's own stack trace.
        ModelPackage.OpenCurrent(options.Models.Directory, ModelTasks.Classifier);
        ModelPackage.OpenCurrent(options.Models.Directory, ModelTasks.Segmenter);
        var cameras = BenchCameras(options, settings.Cameras);
        var temp = Directory.CreateTempSubdirectory("inspectiond-bench-");
        var soak = settings.SoakMinutes > 0;
        var warmUp = soak ? MaxWarmUp : Math.Clamp(settings.Frames / 10, 1, MaxWarmUp);
        var frames = soak ? long.MaxValue : settings.Frames;
        try
        {
            var choice = settings.Broker ?? BrokerChoice.Default;
            var topics = new Topics(options.Mqtt);
            var stages = new BenchStages();
            var publishCost = new PublishCost();
            Dictionary<string, CameraLane> lanes = [];
            void Arrived(string camera, long seq, long at)
            {
                if (camera == PublishCost.Camera)
                {
                    publishCost.OnArrived();
                }
                else
                {
                    lanes.GetValueOrDefault(camera)?.OnArrived(seq, at);
                }
            }

            await using var broker = CreateBroker(choice, temp.FullName, topics.Root, Arrived);
            await broker.StartAsync().ConfigureAwait(false);
            Isolate(options, temp.FullName, broker.Host, broker.Port);
            using var threadWatch = new ThreadWatch(TimeSpan.FromMilliseconds(200));
            var window = new BenchWindow(cameras.Count, threadWatch, broker.OutsideProcesses);
            lanes = cameras.ToDictionary(c => c.Id, c => new CameraLane(c, stages, window, warmUp, frames, _warmth), StringComparer.Ordinal);

            using var host = DaemonHost.Build(options, logging: ToStandardError);
            ThreadPoolHeadroom.Reserve(cameras.Count); // the lanes stand in for the config's cameras
            await host.StartAsync(ct).ConfigureAwait(false);
            var services = host.Services;
            await services.GetRequiredService<MqttConnection>().WhenConnected.WaitAsync(TimeSpan.FromSeconds(20), ct).ConfigureAwait(false);
            var store = services.GetRequiredService<ModelStore>();
            Announce(cameras, store.Provider, warmUp);
            var sampler = soak ? new SoakSampler(TimeSpan.FromMinutes(settings.SoakMinutes)) : null;
            var console = await RunLanesAsync(lanes.Values, services, sampler, ct).ConfigureAwait(false);

            var failures = lanes.Values.Where(l => l.Failure is not null).Select(l => $"{l.Id}: {l.Failure}").ToList();
            await WaitForResultsAsync(lanes.Values).ConfigureAwait(false);
            var threads = window.CpuReadingAtOpen is { } open
                ? CpuReading.Take(threadWatch, broker.OutsideProcesses).PerFrameSince(open, lanes.Values.Sum(l => l.InspectCpuMs), window.ResultsInWindow)
                : null;
            var totals = WindowTotals.Read(window); // before the publish burst adds its own CPU and allocations
            var template = soak ? null : lanes.Values.Select(l => l.LastResult).FirstOrDefault(r => r is not null);
            var publishCpu = template is null ? null : await publishCost.MeasureAsync(services.GetRequiredService<ResultSink>(), template, PublishBurst).ConfigureAwait(false);
            var report = WindowReport(cameras, broker, store.Provider, window, stages, lanes.Values, totals, publishCpu, console);
            AddModelOnlyBound(report, store, cameras.Count, window, stages, threadWatch, threads);

            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            report["accounting"] = Accounting(lanes.Values, services, publishCost);
            if (failures.Count > 0)
            {
                report["failures"] = new JsonArray([.. failures.Select(f => (JsonNode?)f)]);
            }

            if (sampler is not null)
            {
                report["soak"] = sampler.Report();
            }

            return report;
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    private void Announce(List<CameraOptions> cameras, string provider, int warmUp) =>
        progress.WriteLine($"bench: {cameras.Count} camera(s) on {cameras[0].Source}, models on {provider}, "
            + (settings.SoakMinutes > 0 ? $"soak for {settings.SoakMinutes:0.#} min" : $"{settings.Frames} frames each after a warm-up of at least {warmUp}" + (settings.WaitForJit ? $" and until the JIT is quiet ({JitQuiet.TotalSeconds:0} s at most {WarmUp.MaxJitShare:P0} compiling, {WarmUpLimit.TotalSeconds:0} s at most)" : "")));

    private static IBenchBroker CreateBroker(BrokerChoice choice, string temp, string topicRoot, Action<string, long, long> arrived) => choice.Kind switch
    {
        BrokerChoice.Mosquitto => ExternalBroker.StartMosquitto(temp, FreePort(), topicRoot, arrived),
        BrokerChoice.External => ExternalBroker.Connect(choice.Host, choice.Port, topicRoot, arrived),
        _ => new LoopbackBroker(FreePort(), topicRoot, arrived),
    };

    // Runs every camera's pipeline to its end (or a soak's), with the progress watch and, when the host serves the
    // console, its polling load; returns what the console load did (null without a console).
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP013:Await in using", Justification = "The lanes' task, the progress watch and the console load are awaited further down, inside the same usings.")]
    private async Task<JsonObject?> RunLanesAsync(IReadOnlyCollection<CameraLane> lanes, IServiceProvider services, SoakSampler? sampler, CancellationToken ct)
    {
        var options = settings.Options;
        var store = services.GetRequiredService<ModelStore>();
        var sink = services.GetRequiredService<ResultSink>();
        var snapshots = services.GetRequiredService<SnapshotWriter>();
        var loggers = services.GetRequiredService<ILoggerFactory>();
        var device = new Topics(options.Mqtt).Device;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var lanesDone = Task.WhenAll(lanes.Select(lane => Task.Run(
            () => lane.RunAsync(() => new InspectionRunner(store, options.Pipeline, snapshots, device), sink, options.Pipeline, loggers, stop.Token),
            CancellationToken.None)));

        var watch = Task.Run(() => WatchProgressAsync(lanes, sampler, lanesDone, stop), CancellationToken.None);
        using var console = services.GetRequiredService<Http.ConsoleServer>().Url is { } url ? new ConsoleLoad(url) : null;
        var consoleLoad = console?.RunAsync(lanesDone);
        await lanesDone.ConfigureAwait(false);
        await watch.ConfigureAwait(false);
        if (consoleLoad is not null)
        {
            await consoleLoad.ConfigureAwait(false);
        }

        return console?.Report();
    }

    // The measured window's figures, the publish burst's CPU per result, and what the console load did.
    private JsonObject WindowReport(List<CameraOptions> cameras, IBenchBroker broker, string provider, BenchWindow window, BenchStages stages, IReadOnlyCollection<CameraLane> lanes, WindowTotals totals, double? publishCpu, JsonObject? console)
    {
        var choice = settings.Broker ?? BrokerChoice.Default;
        var results = window.ResultsInWindow;
        return new JsonObject
        {
            ["cameras"] = cameras.Count,
            ["source"] = cameras[0].Source,
            ["broker"] = choice.Kind == BrokerChoice.InProcess ? $"{choice} (MQTTnet, 127.0.0.1:{broker.Port})" : $"{choice} ({broker.Host}:{broker.Port}, another process)",
            ["provider"] = provider,
            ["threads"] = settings.Options.Models.Threads,
            ["cores"] = Environment.ProcessorCount,
            ["frames_per_camera"] = settings.SoakMinutes > 0 ? null : settings.Frames,
            ["warm_up_frames"] = lanes.Sum(l => Math.Max(0, l.WarmUpFrames)),
            ["warm_up_timed_out"] = _warmth.TimedOut,
            ["measured_results"] = results,
            ["seconds"] = Math.Round(window.Seconds, 3),
            ["fps"] = Math.Round(window.Fps, 2),
            ["fps_per_camera"] = Math.Round(window.Fps / cameras.Count, 2),
            ["segmented_fraction"] = Math.Round(stages.SegmentedFraction, 4),
            ["allocated_bytes_per_frame"] = results == 0 ? 0 : totals.Allocated / results,
            ["inspect_allocated_bytes_per_frame"] = stages.Inspect.Count == 0 ? 0 : lanes.Sum(l => l.InspectAllocated) / stages.Inspect.Count,
            ["peak_rss_bytes"] = totals.PeakRss,
            ["stages"] = StagesJson(stages.All),
            ["cpu_per_frame_ms"] = CpuJson(stages, publishCpu, results == 0 ? null : totals.ProcessCpuMs / results),
            ["opencv_threads"] = OpenCvSharp.Cv2.GetNumThreads(),
            ["console"] = console,
        };
    }

    // The whole process's allocations and CPU time over the measured window, and its peak RSS.
    private sealed record WindowTotals(long Allocated, double ProcessCpuMs, long PeakRss)
    {
        public static WindowTotals Read(BenchWindow window) => new(
            GC.GetTotalAllocatedBytes(precise: true) - window.AllocatedAtOpen,
            (Process.GetCurrentProcess().TotalProcessorTime - window.CpuAtOpen).TotalMilliseconds,
            ProcessProbe.PeakRssBytes());
    }

    // The model-only bound on the same sessions, the overhead ratio against the window's fps, and with several cameras
    // the batched bound.
    private void AddModelOnlyBound(JsonObject report, ModelStore store, int cameras, BenchWindow window, BenchStages stages, ThreadWatch threadWatch, JsonObject? threads)
    {
        var set = store.Acquire();
        try
        {
            var boundFrames = Math.Max(20, (int)Math.Min(window.ResultsInWindow / cameras, 1000));
            progress.WriteLine($"bench: model-only bound ({boundFrames} frames per camera on pre-made tensors)");
            var (modelOnly, modelCpu, modelThreads) = ModelOnlyBound.Measure(set, cameras, boundFrames, stages.SegmentedFraction, threadWatch);
            report["model_only_fps"] = Math.Round(modelOnly, 2);
            report["cpu_per_frame_ms"]!["model_only_process"] = Math.Round(modelCpu, 3);
            report["cpu_by_thread_ms_per_frame"] = new JsonObject
            {
                ["end_to_end"] = threads,
                ["model_only"] = modelThreads,
                ["note"] = "process CPU per frame by thread group (/proc/self/task/*/stat); inspecting = the inspect calls' own thread clock, taken out of the thread pool's; outside processes last",
            };
            report["overhead_ratio"] = window.Fps > 0 ? Math.Round(modelOnly / window.Fps, 3) : null;
            if (cameras > 1)
            {
                var batched = ModelOnlyBound.MeasureBatched(set, cameras, boundFrames, stages.SegmentedFraction);
                report["batching"] = new JsonObject
                {
                    ["batch"] = cameras,
                    ["unbatched_model_only_fps"] = Math.Round(modelOnly, 2),
                    ["batched_model_only_fps"] = batched is null ? null : Math.Round(batched.Value, 2),
                    ["note"] = batched is null ? "a model's batch axis is fixed at 1" : "model-only figures: one batch of all cameras' frames per run vs one session run per frame",
                };
            }
        }
        finally
        {
            set.Release();
        }
    }

    // Every frame accounted for: inspected = published = received by the broker, nothing left in the outbox.
    private static JsonObject Accounting(IReadOnlyCollection<CameraLane> lanes, IServiceProvider services, PublishCost publishCost)
    {
        var snapshots = services.GetRequiredService<SnapshotWriter>();
        return new JsonObject
        {
            ["inspected"] = lanes.Sum(l => l.Submitted),
            ["published"] = services.GetRequiredService<ResultPublisher>().Published - publishCost.Sent,
            ["received_by_broker"] = lanes.Sum(l => l.Arrived),
            ["in_outbox"] = (long)services.GetRequiredService<DiskOutbox>().Count,
            ["capture_drops"] = lanes.Sum(l => l.CaptureDrops),
            ["frame_errors"] = lanes.Sum(l => l.Errors),
            ["snapshots_written"] = snapshots.Written,
            ["snapshots_dropped"] = snapshots.Dropped,
        };
    }

    // Stops a soak when its time is up, and any run whose cameras deliver nothing for half a minute.
    private async Task WatchProgressAsync(IEnumerable<CameraLane> lanes, SoakSampler? sampler, Task lanesDone, CancellationTokenSource stop)
    {
        var lastCount = -1L;
        var lastProgress = Stopwatch.GetTimestamp();
        var lastPrint = Stopwatch.GetTimestamp();
        while (!lanesDone.IsCompleted)
        {
            await Task.WhenAny(lanesDone, Task.Delay(sampler?.Interval ?? TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            var count = lanes.Sum(l => l.Submitted);
            sampler?.Sample(count);
            if (count != lastCount)
            {
                lastCount = count;
                lastProgress = Stopwatch.GetTimestamp();
            }

            if (sampler?.Done == true || Stopwatch.GetElapsedTime(lastProgress) > TimeSpan.FromSeconds(30))
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }

            if (Stopwatch.GetElapsedTime(lastPrint) > TimeSpan.FromSeconds(10))
            {
                lastPrint = Stopwatch.GetTimestamp();
                progress.WriteLine($"bench: {count} frames inspected" + (sampler is null ? "" : $", {sampler.Last}"));
            }
        }
    }

    private static async Task WaitForResultsAsync(IEnumerable<CameraLane> lanes)
    {
        var deadline = Stopwatch.GetTimestamp();
        while (lanes.Any(l => l.Arrived < l.Submitted) && Stopwatch.GetElapsedTime(deadline) < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    // Non-model CPU per frame, decode excluded: the inspecting thread's preprocess, postprocess and JSON per frame (a
    // distribution), plus the publish cost's mean; and the whole process's CPU per frame in the measured window.
    private static JsonObject CpuJson(BenchStages stages, double? publishMs, double? processMs)
    {
        var json = StagesJson(stages.Cpu);
        json["publish_mean"] = publishMs is null ? null : Math.Round(publishMs.Value, 3);
        if (stages.FrameCpu.Percentiles() is { } frame && publishMs is not null)
        {
            json["non_model"] = new JsonObject
            {
                ["p50_ms"] = Math.Round(frame.P50Ms + publishMs.Value, 3),
                ["p95_ms"] = Math.Round(frame.P95Ms + publishMs.Value, 3),
                ["note"] = "preprocess + postprocess + JSON of each frame, plus the publish mean; decode excluded",
            };
        }

        json["process_total"] = processMs is null ? null : Math.Round(processMs.Value, 3);
        return json;
    }

    private static JsonObject StagesJson(IEnumerable<(string Name, StageSamples Samples)> stages)
    {
        var json = new JsonObject();
        foreach (var (name, samples) in stages)
        {
            if (samples.Percentiles() is { } p)
            {
                json[name] = new JsonObject
                {
                    ["p50_ms"] = Math.Round(p.P50Ms, 3),
                    ["p95_ms"] = Math.Round(p.P95Ms, 3),
                    ["p99_ms"] = Math.Round(p.P99Ms, 3),
                    ["mean_ms"] = Math.Round(p.MeanMs, 3),
                    ["count"] = p.Count,
                };
            }
        }

        return json;
    }

    /// <summary>The cameras to run: the config's, or K copies of its first; sources unpaced, no fps cap, stream mode.</summary>
    public static List<CameraOptions> BenchCameras(InspectionOptions options, int count)
    {
        if (options.Cameras.Count == 0)
        {
            throw new ArgumentException("the config has no camera; bench needs one (Cameras:0:Source), e.g. synthetic://?width=640&height=480");
        }

        var template = options.Cameras[0];
        var cameras = count > 0
            ? Enumerable.Range(1, count).Select(i => Copy(template, count == 1 ? template.Id : $"{template.Id}-{i}")).ToList()
            : options.Cameras.Select(c => Copy(c, c.Id)).ToList();
        return cameras;
    }

    private static CameraOptions Copy(CameraOptions c, string id) => new()
    {
        Id = id,
        Source = ConsumerPacedSource.Unpaced(c.Source),
        MaxFps = 0,
        Trigger = TriggerMode.Stream,
        Roi = c.Roi,
        StallTimeout = c.StallTimeout,
    };

    // The benchmark's host must not touch the production broker, outbox or snapshot folders.
    private static void Isolate(InspectionOptions options, string temp, string brokerHost, int brokerPort)
    {
        options.Cameras = [];
        options.Mqtt.Host = brokerHost;
        options.Mqtt.Port = brokerPort;
        options.Mqtt.Embedded = false;
        options.Mqtt.Username = "";
        options.Mqtt.PasswordFile = "";
        options.Mqtt.Tls = new MqttTlsOptions();
        options.Mqtt.ClientId = "";
        options.Models.Watch = false;
        options.Outbox.Directory = Path.Combine(temp, "outbox");
        options.Http.Listen = options.Http.Listen.Length > 0 ? "127.0.0.1:0" : "";
        options.Http.PasswordFile = "";
        options.Http.TlsCertFile = options.Http.TlsKeyFile = "";
        options.History.File = options.History.Enabled ? Path.Combine(temp, "history.db") : "";
        options.Review.Directory = Path.Combine(temp, "review");
        options.Review.DatasetDirectory = Path.Combine(temp, "dataset");
        if (options.Snapshots.Directory.Length > 0)
        {
            options.Snapshots.Directory = Path.Combine(temp, "snapshots");
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void ToStandardError(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o => o.SingleLine = true);
        logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(LogLevel.Warning);
    }
}
