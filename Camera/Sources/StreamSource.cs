using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>rtsp://user:pass@host:554/path?transport=tcp</c>, <c>http(s)://host/stream.mjpg</c>: a network stream through
/// OpenCV's FFMPEG backend. Options: <c>transport</c> (<c>tcp</c> default, or <c>udp</c>; RTSP only),
/// <c>open_timeout_ms</c> and <c>read_timeout_ms</c> (default 10000). Other query parameters belong to the camera's
/// URL and are passed on unchanged. A stream never ends: a failed read means reconnect.
/// </summary>
public sealed class StreamSource : VideoCaptureSource
{
    // OpenCV reads its FFMPEG options from this variable at open; it is process-wide, so opens take turns.
    private const string FfmpegOptionsVariable = "OPENCV_FFMPEG_CAPTURE_OPTIONS";
    private const int OpenTimeoutProperty = 53; // CAP_PROP_OPEN_TIMEOUT_MSEC
    private const int ReadTimeoutProperty = 54; // CAP_PROP_READ_TIMEOUT_MSEC
    private static readonly Lock OpenLock = new();

    private readonly string _url;
    private readonly string _transport;
    private readonly int _openTimeoutMs;
    private readonly int _readTimeoutMs;
    private readonly bool _rtsp;

    /// <summary>Creates the source from its URI options.</summary>
    public StreamSource(SourceUri uri, ILogger? logger = null)
        : base(uri, logger)
    {
        _rtsp = uri.Scheme == "rtsp";
        _transport = uri.String("transport", "tcp", "udp") ?? "tcp";
        _openTimeoutMs = uri.Int("open_timeout_ms", 10_000, 100, 600_000);
        _readTimeoutMs = uri.Int("read_timeout_ms", 10_000, 100, 600_000);
        var queryStart = uri.Text.IndexOf('?', StringComparison.Ordinal);
        _url = (queryStart < 0 ? uri.Text : uri.Text[..queryStart]) + uri.QueryWithoutUsed();
    }

    /// <inheritdoc />
    public override void Open()
    {
        int[] parameters = [OpenTimeoutProperty, _openTimeoutMs, ReadTimeoutProperty, _readTimeoutMs];
        lock (OpenLock)
        {
            _ = SetEnv(FfmpegOptionsVariable, _rtsp ? $"rtsp_transport;{_transport}" : "", 1);
            try
            {
                SetCapture(
                    new VideoCapture(_url, VideoCaptureAPIs.FFMPEG, parameters),
                    $"cannot open the stream (host unreachable, wrong path or credentials, or not a video stream; waited up to {_openTimeoutMs} ms)");
            }
            finally
            {
                _ = UnsetEnv(FfmpegOptionsVariable);
            }
        }

        Logger.LogInformation("{Source}: stream open, {Width}x{Height} at {Fps} fps", Description, Capture!.FrameWidth, Capture.FrameHeight, Capture.Fps);
    }

    // .NET's Environment.SetEnvironmentVariable does not reach the C library's environment that OpenCV reads.
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int UnsetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}
