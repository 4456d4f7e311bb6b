using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Inspection.TestSupport;

/// <summary>
/// An RTSP camera on loopback that can be killed and brought back on the same port. ffmpeg 5.1 cannot itself listen as
/// an RTSP server (its muxer only pushes), so ffmpeg publishes a looped clip to rtsp-server-perl, a small RTSP relay,
/// and the camera reads from the relay: the same path a real IP camera takes. The relay accepts RTP over UDP only, so
/// the camera uses transport=udp. Needs both programs (<c>[RequiresToolFact("ffmpeg", "rtsp-server-perl")]</c>).
/// </summary>
public sealed class RtspServer : IDisposable
{
    private readonly string _clip;
    private readonly int _sourcePort = Tools.FreePort();
    private readonly int _rtpStart = Random.Shared.Next(20_000, 30_000) * 2;
    private Process? _relay;
    private Process? _publisher;

    /// <summary>Starts the relay and the publisher of <paramref name="clip"/> (looped, at its own frame rate).</summary>
    public RtspServer(string clip)
    {
        _clip = clip;
        Start();
    }

    /// <summary>Where cameras connect (the relay's client port); the same across restarts.</summary>
    public int Port { get; } = Tools.FreePort();

    public string Url => $"rtsp://127.0.0.1:{Port}/line";

    /// <summary>Starts the relay, then the publisher once the relay listens (again after <see cref="Kill"/>).</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "Start runs when both processes are gone: before the first start (and returns early if the relay runs), or after Kill, which disposed them.")]
    public void Start()
    {
        if (_relay is not null)
        {
            return;
        }

        _relay = Tools.Start("rtsp-server-perl", ["-c", $"{Port}", "-s", $"{_sourcePort}", "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1", "--rtp_start_port", $"{_rtpStart}", "-l", "1"]);
        Tools.WaitForPort(_sourcePort);
        _publisher = Tools.Start("ffmpeg", ["-v", "error", "-re", "-stream_loop", "-1", "-i", _clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "udp", $"rtsp://127.0.0.1:{_sourcePort}/line"]);
    }

    /// <summary>Kills publisher and relay: connections are refused until <see cref="Start"/> (a camera that reboots).
    /// The relay is always restarted too: it does not take a new publisher on a path whose old one vanished.</summary>
    public void Kill()
    {
        Stop(_publisher);
        _publisher?.Dispose();
        _publisher = null;
        Stop(_relay);
        _relay?.Dispose();
        _relay = null;
    }

    public void Dispose() => Kill();

    private static void Stop(Process? process)
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }
}
