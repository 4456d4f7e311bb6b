using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Camera.Capture;
using Inspection.Config.Options;
using Inspection.TestSupport;
using Xunit.Abstractions;

namespace Inspection.Camera.Tests;

/// <summary>Reading thousands of frames must not grow memory: every Mat is disposed, whether consumed or dropped.</summary>
public sealed class MemoryTests(ITestOutputHelper output) : IDisposable
{
    private const long Megabyte = 1024 * 1024;
    private readonly TempDirectory _dir = new("memory");

    public void Dispose() => _dir.Dispose();

    private static long Rss()
    {
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    // Reads every frame, disposing it, but pauses now and then so the channel also drops frames.
    private static async Task<long> ConsumeAsync(CaptureLoop loop, Action sample)
    {
        long consumed = 0;
        await foreach (var frame in loop.Frames.ReadAllAsync())
        {
            frame.Dispose();
            if (++consumed % 100 == 0)
            {
                sample();
                await Task.Delay(5);
            }
        }

        return consumed;
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The scripted source is handed to the loop, which owns and disposes it.")]
    public async Task Every_frame_mat_is_disposed_whether_consumed_dropped_or_kept_as_latest()
    {
        var source = new ScriptedSource { EndAfter = 5000, Size = new(640, 480) };
        var loop = new CaptureLoop(new CameraOptions { Id = "mem", Source = "scripted://mem" }, 2, _ => source);

        var run = loop.RunAsync(CancellationToken.None);
        var consumed = await ConsumeAsync(loop, () => { });
        await run;
        var stats = loop.Stats;
        await loop.DisposeAsync();

        output.WriteLine($"read {stats.FramesRead}, consumed {consumed}, dropped {stats.FramesDropped}");
        Assert.Equal(5000, stats.FramesRead);
        Assert.Equal(stats.FramesRead, consumed + stats.FramesDropped);
        Assert.True(stats.FramesDropped > 0, "the test meant to exercise drops too");
        var undisposed = source.Destinations.Count(m => !m.IsDisposed);
        Assert.Equal(0, undisposed);
    }

    [RequiresToolFact("ffmpeg")]
    public async Task Decoding_thousands_of_frames_from_a_looping_video_keeps_memory_flat()
    {
        var avi = Tools.MakeVideo(_dir.Combine("loop.avi"), 320, 240, frames: 100, codecArgs: "-c:v mjpeg -q:v 8");
        var options = new CameraOptions { Id = "mem", Source = $"file://{avi}?loop=true" };

        // Warm up (decoder, thread pool, JIT) before the baseline.
        await RunFramesAsync(options, 100, () => { });
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var baseline = Rss();
        var peak = baseline;

        var stats = await RunFramesAsync(options, 2000, () => peak = Math.Max(peak, Rss()));

        var growth = (peak - baseline) / Megabyte;
        output.WriteLine($"read {stats.FramesRead} frames of 320x240 (dropped {stats.FramesDropped}, reconnects {stats.Reconnects}): RSS {baseline / Megabyte} MiB before, peak {peak / Megabyte} MiB, growth {growth} MiB");
        Assert.True(stats.FramesRead >= 2000);
        Assert.Equal(0, stats.Reconnects);

        // A leak of one 320x240 BGR frame per read would be ~440 MiB here; allocator slack is a few tens of MiB.
        Assert.True(growth < 150, $"RSS grew by {growth} MiB over {stats.FramesRead} frames");
    }

    private static async Task<CaptureStats> RunFramesAsync(CameraOptions options, int frames, Action sample)
    {
        using var stop = new CancellationTokenSource();
        var loop = new CaptureLoop(options, 2);
        var run = loop.RunAsync(stop.Token);
        long consumed = 0;
        await foreach (var frame in loop.Frames.ReadAllAsync())
        {
            frame.Dispose();
            if (++consumed % 100 == 0)
            {
                sample();
            }

            if (loop.Stats.FramesRead >= frames)
            {
                await stop.CancelAsync();
            }
        }

        await run;
        var stats = loop.Stats;
        await loop.DisposeAsync();
        return stats;
    }
}
