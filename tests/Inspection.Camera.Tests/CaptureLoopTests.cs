using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Camera.Capture;
using Inspection.Camera.Frames;
using Inspection.Config.Options;
using OpenCvSharp;

namespace Inspection.Camera.Tests;

[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The scripted sources are handed to the loop, which owns and disposes them (the tests assert that).")]
public sealed class CaptureLoopTests
{
    // Generous upper bounds so a stuck loop fails the test instead of hanging it; they are not speed requirements.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static CameraOptions Camera(string source = "scripted://test", Action<CameraOptions>? change = null)
    {
        var options = new CameraOptions { Id = "cam1", Source = source, StallTimeout = TimeSpan.FromSeconds(5) };
        change?.Invoke(options);
        return options;
    }

    private static CaptureLoop Loop(CameraOptions options, Func<ScriptedSource> next, int capacity = 4) =>
        new(options, capacity, _ => next()) { ReconnectMinDelay = TimeSpan.FromMilliseconds(20), ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) };

    private static async Task<List<Frame>> ReadAll(CaptureLoop loop)
    {
        var frames = new List<Frame>();
        using var timeout = new CancellationTokenSource(Patience);
        await foreach (var frame in loop.Frames.ReadAllAsync().WithCancellation(timeout.Token))
        {
            frames.Add(frame);
        }

        return frames;
    }

    [Fact]
    public async Task Synthetic_frames_arrive_in_order_with_camera_id_timestamps_and_sequence_from_1()
    {
        await using var loop = new CaptureLoop(Camera("synthetic://?width=64&height=48&fps=0&frames=5"), 8);
        var before = DateTimeOffset.UtcNow;
        var states = new List<SourceState>();
        loop.StateChanged += (_, e) => states.Add(e.State);

        var run = loop.RunAsync(CancellationToken.None);
        var frames = await ReadAll(loop);
        await run.WaitAsync(Patience);

        Assert.Equal([1L, 2, 3, 4, 5], frames.Select(f => f.Sequence));
        Assert.All(frames, f =>
        {
            Assert.Equal("cam1", f.CameraId);
            Assert.Equal((64, 48), (f.Width, f.Height));
            Assert.StartsWith("synthetic://", f.Source, StringComparison.Ordinal);
            Assert.InRange(f.CapturedAt, before, DateTimeOffset.UtcNow);
        });
        Assert.True(frames.Zip(frames.Skip(1)).All(p => p.First.MonotonicTimestamp <= p.Second.MonotonicTimestamp));
        Assert.Equal([SourceState.Connected, SourceState.Ended], states);
        Assert.Equal(5, loop.Stats.FramesRead);
        Assert.Equal(SourceState.Ended, loop.Stats.State);
        frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task A_slow_consumer_loses_the_oldest_frames_and_they_are_disposed_and_counted()
    {
        var source = new ScriptedSource { EndAfter = 50 };
        await using var loop = Loop(Camera(), () => source, capacity: 3);

        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience); // nobody reads while it runs
        var kept = await ReadAll(loop);

        Assert.Equal([48L, 49, 50], kept.Select(f => f.Sequence)); // the freshest survive
        Assert.Equal(47, loop.Stats.FramesDropped);
        Assert.Equal(50, loop.Stats.FramesRead);
        var dropped = source.Destinations.Take(47).ToList();
        Assert.All(dropped, m => Assert.True(m.IsDisposed, "a dropped frame's Mat was not disposed"));
        kept.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task A_failing_read_reopens_the_source_and_numbering_continues()
    {
        var sources = new List<ScriptedSource>();
        var loop = Loop(Camera(), () =>
        {
            var s = new ScriptedSource { FailAfter = sources.Count < 2 ? 3 : 0, EndAfter = sources.Count < 2 ? 0 : 3 };
            sources.Add(s);
            return s;
        }, capacity: 100);
        var states = new List<SourceState>();
        loop.StateChanged += (_, e) => states.Add(e.State);

        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);
        var frames = await ReadAll(loop);

        Assert.Equal(Enumerable.Range(1, 9).Select(i => (long)i), frames.Select(f => f.Sequence));
        Assert.Equal(2, loop.Stats.Reconnects);
        Assert.Contains("read failed", loop.Stats.LastError, StringComparison.Ordinal);
        Assert.Equal(
            [SourceState.Connected, SourceState.Reconnecting, SourceState.Connected, SourceState.Reconnecting, SourceState.Connected, SourceState.Ended],
            states);
        Assert.All(sources, s => Assert.True(s.Disposed));
        frames.ForEach(f => f.Dispose());
        await loop.DisposeAsync();
    }

    [Fact]
    public async Task A_source_that_cannot_open_is_retried_with_growing_bounded_delays()
    {
        var opens = new List<long>();
        var loop = new CaptureLoop(Camera(), 2, _ =>
        {
            opens.Add(Stopwatch.GetTimestamp());
            return new ScriptedSource { OpenError = "scripted://test: camera is off" };
        })
        {
            ReconnectMinDelay = TimeSpan.FromMilliseconds(40),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(160),
        };
        using var stop = new CancellationTokenSource();
        var run = loop.RunAsync(stop.Token);

        while (loop.Stats.Reconnects < 6)
        {
            await Task.Delay(20).WaitAsync(Patience);
        }

        await stop.CancelAsync();
        await run.WaitAsync(Patience);

        var gaps = opens.Zip(opens.Skip(1)).Select(p => Stopwatch.GetElapsedTime(p.First, p.Second).TotalMilliseconds).ToList();
        // Equal jitter: attempt k waits between half and all of min(40·2^(k-1), 160) ms.
        Assert.True(gaps[0] >= 20, $"first delay {gaps[0]:F0} ms");
        Assert.True(gaps[3] >= 80, $"fourth delay {gaps[3]:F0} ms (cap 160, so at least 80)");
        Assert.Equal("scripted://test: camera is off", loop.Stats.LastError);
        Assert.Equal(SourceState.Ended, loop.Stats.State);
        await loop.DisposeAsync();
    }

    [Fact]
    public async Task A_stalled_source_is_abandoned_and_reopened()
    {
        var first = new ScriptedSource { BlockAfter = 2 };
        var second = new ScriptedSource { EndAfter = 2 };
        var queue = new Queue<ScriptedSource>([first, second]);
        await using var loop = Loop(Camera(change: o => o.StallTimeout = TimeSpan.FromMilliseconds(300)), queue.Dequeue, capacity: 10);
        var states = new List<SourceState>();
        loop.StateChanged += (_, e) => states.Add(e.State);

        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);
        var frames = await ReadAll(loop);

        Assert.Equal([1L, 2, 3, 4], frames.Select(f => f.Sequence));
        Assert.Equal([SourceState.Connected, SourceState.Stalled, SourceState.Reconnecting, SourceState.Connected, SourceState.Ended], states);
        Assert.Contains("no frame for 0.3 s", loop.Stats.LastError, StringComparison.Ordinal);
        Assert.False(first.Disposed, "the blocked source must not be disposed under its own read");
        first.Release.Set();
        SpinWait.SpinUntil(() => first.Disposed, Patience);
        Assert.True(first.Disposed, "the abandoned source is disposed once its read returns");
        frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task Cancellation_returns_while_a_read_is_blocked()
    {
        var source = new ScriptedSource { BlockAfter = 1 };
        await using var loop = Loop(Camera(change: o => o.StallTimeout = TimeSpan.FromMinutes(10)), () => source);
        using var stop = new CancellationTokenSource();
        var run = loop.RunAsync(stop.Token);
        Assert.True(source.Blocked.Wait(Patience));

        await stop.CancelAsync();
        await run.WaitAsync(Patience);

        Assert.Equal(SourceState.Ended, loop.Stats.State);
        var frames = await ReadAll(loop); // completes only because the loop completed the channel
        Assert.Equal([1L], frames.Select(f => f.Sequence));
        frames.ForEach(f => f.Dispose());
        source.Release.Set();
        SpinWait.SpinUntil(() => source.Disposed, Patience);
        Assert.True(source.Disposed);
    }

    [Fact]
    public async Task Trigger_mode_keeps_only_the_freshest_frame_and_hands_out_copies()
    {
        var source = new ScriptedSource { EndAfter = 7 };
        await using var loop = Loop(Camera(change: o => o.Trigger = TriggerMode.Trigger), () => source);

        using (var none = loop.TryGetLatest())
        {
            Assert.Null(none);
        }

        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.False(loop.Frames.TryRead(out _)); // nothing streamed
        using var latest = loop.TryGetLatest();
        using var again = loop.TryGetLatest();
        Assert.NotNull(latest);
        Assert.Equal(7, latest.Sequence);
        Assert.Equal(7, latest.Image.At<byte>(0, 0));
        Assert.NotEqual(latest.Image.Data, again!.Image.Data); // each caller gets its own pixels
        Assert.All(source.Destinations.Take(6), m => Assert.True(m.IsDisposed, "a replaced latest frame was not disposed"));
    }

    [Fact]
    public async Task Stream_mode_also_offers_the_latest_frame_as_a_copy()
    {
        var source = new ScriptedSource { EndAfter = 3 };
        await using var loop = Loop(Camera(), () => source);
        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);
        var frames = await ReadAll(loop);
        frames.ForEach(f => f.Dispose()); // the consumer is done with them; the latest copy stays valid

        using var latest = loop.TryGetLatest();

        Assert.Equal(3, latest!.Sequence);
        Assert.Equal(3, latest.Image.At<byte>(5, 5));
    }

    [Fact]
    public async Task Roi_crops_each_frame_and_an_roi_outside_the_frame_is_clipped()
    {
        await using var loop = Loop(Camera(change: o => o.Roi = new RoiOptions { X = 4, Y = 2, Width = 10, Height = 8 }), () => new ScriptedSource { EndAfter = 2 });
        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);
        var frames = await ReadAll(loop);
        Assert.All(frames, f => Assert.Equal((10, 8), (f.Width, f.Height)));
        Assert.Equal((32, 24), (loop.Stats.Width, loop.Stats.Height)); // stats report the camera's size
        frames.ForEach(f => f.Dispose());

        await using var clipped = Loop(Camera(change: o => o.Roi = new RoiOptions { X = 20, Y = 20, Width = 100, Height = 100 }), () => new ScriptedSource { EndAfter = 1 });
        await clipped.RunAsync(CancellationToken.None).WaitAsync(Patience);
        using var frame = (await ReadAll(clipped)).Single();
        Assert.Equal((12, 4), (frame.Width, frame.Height));
    }

    [Fact]
    public async Task Fps_cap_skips_frames_that_come_too_soon()
    {
        // 100 frames at 100 fps take about a second; a 10 fps cap passes about one in ten.
        await using var loop = new CaptureLoop(Camera("synthetic://?width=32&height=32&fps=100&frames=100", o => o.MaxFps = 10), 200);
        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);
        var frames = await ReadAll(loop);

        // However slowly the machine runs, the frames passed never exceed 10 per second of the time they span.
        var span = Stopwatch.GetElapsedTime(frames[0].MonotonicTimestamp, frames[^1].MonotonicTimestamp).TotalSeconds;
        Assert.True(frames.Count - 1 <= (span * 10) + 1, $"{frames.Count} frames passed in {span:F2} s under a 10 fps cap");
        Assert.True(frames.Count >= 5, $"only {frames.Count} of 100 frames passed");
        Assert.Equal(100, loop.Stats.FramesRead);
        Assert.Equal(100 - frames.Count, loop.Stats.FramesSkipped);
        Assert.True(loop.Stats.Fps > 0);
        frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task An_unknown_scheme_ends_the_loop_with_the_error_instead_of_retrying()
    {
        await using var loop = new CaptureLoop(Camera("gopher://x"), 2);

        await loop.RunAsync(CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(SourceState.Ended, loop.Stats.State);
        Assert.Contains("unknown source scheme 'gopher'", loop.Stats.LastError, StringComparison.Ordinal);
        Assert.Equal(0, loop.Stats.Reconnects);
    }
}
