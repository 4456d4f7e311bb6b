using Inspection.Camera.Capture;
using Inspection.Camera.Frames;
using Inspection.Config.Options;
using Inspection.TestSupport;
using Xunit.Abstractions;

namespace Inspection.Camera.Tests;

/// <summary>Network streams served on loopback by ffmpeg: read, lose the server mid-read, get it back.</summary>
public sealed class StreamSourceTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _dir = new("streams");

    public void Dispose() => _dir.Dispose();

    private static async Task<List<Frame>> TakeAsync(CaptureLoop loop, int count)
    {
        var frames = new List<Frame>();
        using var patience = new CancellationTokenSource(Patience);
        while (frames.Count < count)
        {
            frames.Add(await loop.Frames.ReadAsync(patience.Token));
        }

        return frames;
    }

    [RequiresToolFact("ffmpeg", "rtsp-server-perl")]
    public async Task Rtsp_stream_killed_and_restarted_mid_read_is_reconnected_and_continues()
    {
        // A keyframe every 5 frames, so a new session has a picture within 0.2 s.
        var clip = Tools.MakeVideo(_dir.Combine("clip.mp4"), 160, 120, frames: 100, codecArgs: "-c:v libx264 -pix_fmt yuv420p -g 5");
        using var server = new RtspServer(clip);
        var camera = new CameraOptions
        {
            Id = "rtsp",
            Source = $"{server.Url}?transport=udp&open_timeout_ms=3000&read_timeout_ms=1500",
            StallTimeout = TimeSpan.FromSeconds(2),
        };
        await using var loop = new CaptureLoop(camera, 500) { ReconnectMinDelay = TimeSpan.FromMilliseconds(200), ReconnectMaxDelay = TimeSpan.FromSeconds(1) };
        var states = new List<string>();
        loop.StateChanged += (_, e) =>
        {
            lock (states)
            {
                states.Add($"{e.State}: {e.Reason}");
            }
        };
        using var stop = new CancellationTokenSource();
        var run = loop.RunAsync(stop.Token);

        var before = await TakeAsync(loop, 15);
        server.Kill();
        SpinWait.SpinUntil(() => loop.Stats.State != SourceState.Connected, Patience);
        server.Start();
        while (loop.Frames.TryRead(out var stale))
        {
            before.Add(stale);
        }

        var after = await TakeAsync(loop, 15);
        await stop.CancelAsync();
        await run.WaitAsync(Patience);

        lock (states)
        {
            output.WriteLine(string.Join(Environment.NewLine, states));
        }

        Assert.True(loop.Stats.Reconnects >= 1, "the loop did not reconnect");
        Assert.Equal(SourceState.Ended, loop.Stats.State);
        Assert.All(before.Concat(after), f => Assert.Equal((160, 120), (f.Width, f.Height)));
        var sequences = before.Concat(after).Select(f => f.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences); // numbering continues across the reconnect
        Assert.Contains(states, s => s.StartsWith("Reconnecting", StringComparison.Ordinal));
        Assert.StartsWith("Connected", states[^2], StringComparison.Ordinal); // connected again before the stop
        foreach (var f in before.Concat(after))
        {
            f.Dispose();
        }
    }

    [RequiresToolFact("ffmpeg")]
    public async Task Http_mjpeg_stream_served_by_ffmpeg_is_read()
    {
        var port = Tools.FreePort();
        var clip = Tools.MakeVideo(_dir.Combine("clip.mp4"), 160, 120, frames: 100);
        using var server = Tools.Start("ffmpeg", ["-v", "error", "-re", "-i", clip, "-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg", "-listen", "1", $"http://127.0.0.1:{port}/cam.mjpg"]);
        try
        {
            var camera = new CameraOptions { Id = "http", Source = $"http://127.0.0.1:{port}/cam.mjpg?open_timeout_ms=5000" };
            await using var loop = new CaptureLoop(camera, 100) { ReconnectMinDelay = TimeSpan.FromMilliseconds(100) };
            using var stop = new CancellationTokenSource();
            var run = loop.RunAsync(stop.Token);

            var frames = await TakeAsync(loop, 10);
            await stop.CancelAsync();
            await run.WaitAsync(Patience);

            Assert.All(frames, f => Assert.Equal((160, 120), (f.Width, f.Height)));
            frames.ForEach(f => f.Dispose());
        }
        finally
        {
            server.Kill(entireProcessTree: true);
        }
    }
}
