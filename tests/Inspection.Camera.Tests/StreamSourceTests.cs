using System.Diagnostics;
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

    /// <summary>
    /// ffmpeg 5.1 cannot itself listen as an RTSP server (its muxer only pushes), so ffmpeg publishes the clip to
    /// rtsp-server-perl, a small RTSP relay, and the camera reads from the relay: the same path a real IP camera takes.
    /// The relay accepts RTP over UDP only, so the camera uses transport=udp.
    /// </summary>
    private sealed class RtspServer : IDisposable
    {
        private readonly string _clip;
        private readonly int _sourcePort = Tools.FreePort();
        private readonly int _rtpStart = Random.Shared.Next(20_000, 30_000) * 2;
        private Process? _relay;
        private Process? _publisher;

        public RtspServer(string clip)
        {
            _clip = clip;
            Start();
        }

        public int Port { get; } = Tools.FreePort();

        public string Url => $"rtsp://127.0.0.1:{Port}/line";

        public void Start()
        {
            _relay = Tools.Start("rtsp-server-perl", ["-c", $"{Port}", "-s", $"{_sourcePort}", "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1", "--rtp_start_port", $"{_rtpStart}", "-l", "1"]);
            WaitForPort(_sourcePort);
            _publisher = Tools.Start("ffmpeg", ["-v", "error", "-re", "-stream_loop", "-1", "-i", _clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "udp", $"rtsp://127.0.0.1:{_sourcePort}/line"]);
        }

        public void Kill()
        {
            foreach (var p in new[] { _publisher, _relay })
            {
                if (p is { HasExited: false })
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit();
                }

                p?.Dispose();
            }

            _publisher = _relay = null;
        }

        public void Dispose() => Kill();

        private static void WaitForPort(int port)
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(15))
            {
                try
                {
                    using var client = new System.Net.Sockets.TcpClient();
                    client.Connect(System.Net.IPAddress.Loopback, port);
                    return;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    Thread.Sleep(50);
                }
            }

            throw new TimeoutException($"nothing listens on 127.0.0.1:{port}");
        }
    }

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
