using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Benchmarks;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.TestSupport;

namespace Inspection.EndToEnd.Tests;

/// <summary><c>inspectiond bench</c> on packages the trainer wrote: it drives the daemon's own pipeline to an in-process
/// broker, reports every stage, and every frame it read is accounted for.</summary>
public sealed class BenchTests
{
    [Fact]
    public async Task Bench_reports_every_stage_and_the_model_only_bound_for_two_cameras_with_every_frame_published()
    {
        using var temp = new TempDirectory("e2e-bench");
        // A threshold near zero makes every frame a defect: the segmenter, postprocessing and snapshots all run.
        TrainerPackages.WriteBoth(temp.Combine("models"), "1", classifierThreshold: 1e-6);
        var options = Options(temp, "synthetic://?width=160&height=120&fps=5&defect_rate=0.3&seed=3");

        var report = await new BenchRun(new BenchSettings(options, Frames: 30, Cameras: 2, SoakMinutes: 0, WaitForJit: false), TextWriter.Null).RunAsync(CancellationToken.None);

        Assert.Null(report["failures"]);
        Assert.Equal(2, (int)report["cameras"]!);
        Assert.True((double)report["fps"]! > 0);
        Assert.True((double)report["model_only_fps"]! > 0);
        Assert.Equal((double)report["model_only_fps"]! / (double)report["fps"]!, (double)report["overhead_ratio"]!, 0.006); // the report rounds each figure
        Assert.True((long)report["allocated_bytes_per_frame"]! > 0);
        Assert.True((long)report["peak_rss_bytes"]! > 0);
        Assert.Equal(1.0, (double)report["segmented_fraction"]!);
        foreach (var stage in new[] { "decode", "preprocess", "classify", "segment", "postprocess", "publish" })
        {
            var s = report["stages"]![stage]!;
            Assert.True((double)s["p50_ms"]! <= (double)s["p95_ms"]! && (double)s["p95_ms"]! <= (double)s["p99_ms"]!, stage);
            Assert.Equal(60, (long)s["count"]!);
        }

        // Non-model CPU per frame, per stage (the inspecting thread's CPU clock), the publish cost and the process's CPU.
        var cpu = report["cpu_per_frame_ms"]!;
        foreach (var stage in new[] { "preprocess", "postprocess", "json", "frame_without_publish" })
        {
            var s = cpu[stage]!;
            Assert.True((double)s["p50_ms"]! > 0 && (double)s["p50_ms"]! <= (double)s["p95_ms"]!, stage);
            Assert.Equal(60, (long)s["count"]!);
        }

        Assert.True((double)cpu["publish_mean"]! > 0);
        Assert.Equal((double)cpu["frame_without_publish"]!["p50_ms"]! + (double)cpu["publish_mean"]!, (double)cpu["non_model"]!["p50_ms"]!, 0.011); // sums of rounded figures
        Assert.True((double)cpu["process_total"]! > 0 && (double)cpu["model_only_process"]! > 0);

        // Both ways of running two cameras were measured (the exporter's models take any batch size).
        Assert.True((double)report["batching"]!["batched_model_only_fps"]! > 0);

        // Warm-up frames included: 2 cameras × (30 + 3) frames, all inspected, all received by the broker.
        var accounting = report["accounting"]!;
        Assert.Equal(66, (long)accounting["inspected"]!);
        Assert.Equal(66, (long)accounting["published"]!);
        Assert.Equal(66, (long)accounting["received_by_broker"]!);
        Assert.Equal(0, (long)accounting["in_outbox"]!);
        Assert.Equal(0, (long)accounting["capture_drops"]!);
        Assert.Equal(0, (long)accounting["frame_errors"]!);
        Assert.False(Directory.EnumerateFileSystemEntries(temp.Path).Any(p => p.Contains("outbox", StringComparison.Ordinal)), "bench must not write into the config's outbox");
    }

    [Fact]
    public async Task With_a_mosquitto_broker_every_result_reaches_it_and_the_cpu_split_shows_the_broker_outside_the_process()
    {
        using var temp = new TempDirectory("e2e-bench-mosquitto");
        TrainerPackages.WriteBoth(temp.Combine("models"), "1", classifierThreshold: 1e-6);
        var options = Options(temp, "synthetic://?width=160&height=120&defect_rate=0.3&seed=3");

        var report = await new BenchRun(new BenchSettings(options, Frames: 30, Cameras: 1, SoakMinutes: 0, BrokerChoice.Parse("mosquitto")), TextWriter.Null).RunAsync(CancellationToken.None);

        Assert.Null(report["failures"]);
        Assert.StartsWith("mosquitto (127.0.0.1:", (string)report["broker"]!, StringComparison.Ordinal);
        // The warm-up lasted until the JIT was quiet (or its time limit), then 30 frames were measured.
        Assert.True((long)report["warm_up_frames"]! >= 3);
        Assert.Equal((long)report["warm_up_frames"]! + 30, (long)report["accounting"]!["received_by_broker"]!);
        Assert.Equal(30, (long)report["stages"]!["decode"]!["count"]!);
        Assert.Equal(30, (long)report["stages"]!["publish"]!["count"]!);
        Assert.True((double)report["cpu_per_frame_ms"]!["publish_mean"]! > 0);

        // The process's CPU by thread group adds up to its total; the broker and the observer are other processes.
        var threads = report["cpu_by_thread_ms_per_frame"]!;
        foreach (var run in new[] { "end_to_end", "model_only" })
        {
            var groups = threads[run]!.AsObject();
            Assert.Equal((double)groups["total"]!, ThreadGroups.Order.Sum(g => (double)groups[g]!), 0.01);
            Assert.True((double)groups[ThreadGroups.Inspecting]! > 0, run);
        }

        var endToEnd = threads["end_to_end"]!;
        // The capture thread ends with the last frame read; what it used after the sampler's last look is in ended_threads.
        Assert.True((double)endToEnd[ThreadGroups.Capture]! + (double)endToEnd[ThreadGroups.Ended]! > 0);
        Assert.True((double)endToEnd["broker (mosquitto)"]! >= 0);
        Assert.True((double)endToEnd["observer (mosquitto_sub)"]! >= 0);
    }

    [Fact]
    public async Task Soak_samples_memory_and_handles_and_reports_their_slopes()
    {
        using var temp = new TempDirectory("e2e-soak");
        TrainerPackages.WriteBoth(temp.Combine("models"), "1");
        var options = Options(temp, "synthetic://?width=160&height=120");

        var report = await new BenchRun(new BenchSettings(options, Frames: 1, Cameras: 1, SoakMinutes: 0.1), TextWriter.Null).RunAsync(CancellationToken.None);

        var soak = report["soak"]!.AsObject();
        Assert.InRange((double)soak["minutes"]!, 0.1, 1);
        Assert.True((int)soak["samples"]! >= 5);
        Assert.True((long)soak["frames"]! > 0);
        Assert.Contains((string)soak["verdict"]!, (string[])["flat", "growing"]);
        foreach (var key in new[] { "rss_slope_bytes_per_min", "handles_slope_per_min", "gc_live_heap_slope_bytes_per_min" })
        {
            Assert.NotNull(soak[key]);
        }

        var series = soak["series"]!.AsArray();
        Assert.All(series, s => Assert.True((long)s![1]! > 0 && (int)s[2]! > 0));
        Assert.Equal((long)report["accounting"]!["inspected"]!, (long)report["accounting"]!["received_by_broker"]!);
    }

    [Fact]
    public void Bench_unpaces_sources_and_keeps_their_other_options()
    {
        Assert.Equal("synthetic://?width=64&seed=2&fps=0&frames=0", ConsumerPacedSource.Unpaced("synthetic://?width=64&fps=5&seed=2"));
        Assert.Equal("file:///v/a.mp4?realtime=false&loop=true", ConsumerPacedSource.Unpaced("file:///v/a.mp4?realtime=true"));
        Assert.Equal("rtsp://cam/stream", ConsumerPacedSource.Unpaced("rtsp://cam/stream"));
    }

    private static InspectionOptions Options(TempDirectory temp, string source) => new()
    {
        Mqtt = new MqttOptions { Device = "bench", StatsInterval = TimeSpan.FromSeconds(1) },
        Cameras = [new CameraOptions { Id = "cam", Source = source }],
        Models = new ModelsOptions { Directory = temp.Combine("models"), Provider = ModelProvider.Cpu, Threads = 1 },
        Outbox = new OutboxOptions { Directory = temp.Combine("outbox") },
        Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots") },
        Pipeline = new PipelineOptions { ShutdownTimeout = TimeSpan.FromSeconds(10) },
    };
}
