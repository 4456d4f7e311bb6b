using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>file:///path/video.mp4?loop=true&amp;realtime=true</c>: a video file through OpenCV's FFMPEG backend. <c>loop</c>
/// starts again at the end; <c>realtime</c> paces frames at the file's frame rate instead of decoding flat out;
/// <c>decode_threads</c> is the decoder's thread count (default 1: the reader thread decodes, which took no more CPU per
/// frame than frame threads; 0: FFmpeg's default of one frame thread per core, for a stream one core cannot keep up with).
/// </summary>
internal sealed partial class VideoFileSource : VideoCaptureSource
{
    // OpenCV's CAP_PROP_N_THREADS (videoio.hpp; OpenCvSharp's enum lacks it): the FFmpeg backend takes it only as an
    // open parameter, and reports the decoder's thread count through it.
    private const int CapPropNThreads = 70;
    private readonly string _path;
    private Pacer? _pacer;
    private long _framesThisPass;
    private long _frameCount;

    /// <summary>Creates the source from its URI options.</summary>
    public VideoFileSource(SourceUri uri, ILogger? logger = null)
        : base(uri, logger)
    {
        _path = uri.LocalPath;
        Loop = uri.Bool("loop", false);
        Realtime = uri.Bool("realtime", false);
        DecodeThreads = uri.Int("decode_threads", 1, 0, 64);
        uri.RejectUnknownOptions();
    }

    /// <summary>Start again at the end of the file.</summary>
    public bool Loop { get; }

    /// <summary>Pace frames at the file's frame rate.</summary>
    public bool Realtime { get; }

    /// <summary>Decoder threads asked for (0: FFmpeg's default).</summary>
    public int DecodeThreads { get; }

    /// <summary>The threads the open decoder runs with, as FFmpeg reports them.</summary>
    public int DecoderThreadsInUse => (int)(Capture ?? throw new InvalidOperationException($"{Description}: not open")).Get(CapPropNThreads);

    /// <inheritdoc />
    public override void Open()
    {
        if (Directory.Exists(_path))
        {
            throw new SourceException($"{Description}: {_path} is a folder; use dir://{_path} for image folders");
        }

        if (!File.Exists(_path))
        {
            throw new SourceException($"{Description}: video file {_path} does not exist");
        }

        OpenCapture();
        var fps = Capture!.Fps;
        _frameCount = (long)Capture.FrameCount;
        if (Realtime)
        {
            // Files without a usable rate (e.g. MJPEG without a header rate) are paced at 25 fps.
            _pacer = new Pacer(fps is > 0 and < 1000 ? fps : 25);
        }
    }

    /// <inheritdoc />
    public override bool Read(Mat destination)
    {
        _pacer?.Wait();
        if (base.Read(destination))
        {
            _framesThisPass++;
            return true;
        }

        if (_frameCount > 0 && _framesThisPass < _frameCount - 1)
        {
            LogTruncated(Logger, Description, _framesThisPass, _frameCount);
        }

        if (!Loop || _framesThisPass == 0)
        {
            // A looping file that yields nothing after a restart is broken, not ended: let the caller reopen it.
            EndOfStream = !Loop;
            return false;
        }

        OpenCapture();
        if (!base.Read(destination))
        {
            return false;
        }

        _framesThisPass = 1;
        return true;
    }

    private void OpenCapture()
    {
        _framesThisPass = 0;
        SetCapture(
            DecodeThreads > 0 ? new VideoCapture(_path, VideoCaptureAPIs.FFMPEG, [CapPropNThreads, DecodeThreads]) : new VideoCapture(_path, VideoCaptureAPIs.FFMPEG),
            $"cannot open {_path} as a video ({new FileInfo(_path).Length} bytes; truncated, not a video, or a codec this OpenCV build lacks)");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source}: stopped after {Read} of {Total} frames: the file is truncated or corrupt")]
    private static partial void LogTruncated(ILogger logger, string source, long read, long total);
}
