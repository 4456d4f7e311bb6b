using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>v4l2:///dev/video0?width=1280&amp;height=720&amp;fps=30&amp;format=MJPG</c>: a Video4Linux2 camera. <c>format</c> is
/// the four-character pixel format (<c>MJPG</c>, <c>YUYV</c>, …); what the camera actually granted is logged.
/// </summary>
internal sealed partial class V4l2Source : VideoCaptureSource
{
    private readonly string _device;
    private readonly int _width;
    private readonly int _height;
    private readonly double _fps;
    private readonly string? _format;

    /// <summary>Creates the source from its URI options.</summary>
    public V4l2Source(SourceUri uri, ILogger? logger = null)
        : base(uri, logger)
    {
        _device = uri.LocalPath;
        _width = uri.Int("width", 0, 0, 16384);
        _height = uri.Int("height", 0, 0, 16384);
        _fps = uri.Double("fps", 0, 0, 1000);
        _format = uri.String("format");
        if (_format is not null && _format.Length != 4)
        {
            throw new SourceException($"{Description}: format must be a four-character code such as MJPG or YUYV (got '{_format}')");
        }

        uri.RejectUnknownOptions();
    }

    /// <inheritdoc />
    public override void Open()
    {
        if (!File.Exists(_device))
        {
            throw new SourceException($"{Description}: video device {_device} does not exist (camera unplugged or another number? see v4l2-ctl --list-devices)");
        }

        SetCapture(new VideoCapture(_device, VideoCaptureAPIs.V4L2), $"cannot open video device {_device} (busy, no permission — is the user in group 'video'? — or not a capture device)");
        var capture = Capture!;

        // The format goes first: it decides which sizes and rates the driver offers.
        if (_format is not null)
        {
            capture.Set(VideoCaptureProperties.FourCC, VideoWriter.FourCC(_format[0], _format[1], _format[2], _format[3]));
        }

        if (_width > 0)
        {
            capture.Set(VideoCaptureProperties.FrameWidth, _width);
        }

        if (_height > 0)
        {
            capture.Set(VideoCaptureProperties.FrameHeight, _height);
        }

        if (_fps > 0)
        {
            capture.Set(VideoCaptureProperties.Fps, _fps);
        }

        LogOpened(Logger, Description, capture.FrameWidth, capture.FrameHeight, capture.Fps);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source}: device open, {Width}x{Height} at {Fps} fps")]
    private static partial void LogOpened(ILogger logger, string source, int width, int height, double fps);
}
