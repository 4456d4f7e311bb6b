using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>The part shared by the sources OpenCV's <see cref="VideoCapture"/> reads: owning and releasing the capture.</summary>
public abstract class VideoCaptureSource : IFrameSource
{
    /// <summary>Creates the source.</summary>
    protected VideoCaptureSource(SourceUri uri, ILogger? logger)
    {
        Description = uri.Masked;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public bool EndOfStream { get; protected set; }

    /// <summary>The open capture, or null before <see cref="Open"/>.</summary>
    protected VideoCapture? Capture { get; private set; }

    /// <summary>Where problems are logged.</summary>
    protected ILogger Logger { get; }

    /// <inheritdoc />
    public abstract void Open();

    /// <inheritdoc />
    public virtual bool Read(Mat destination)
    {
        var capture = Capture ?? throw new InvalidOperationException($"{Description}: Read before Open");
        return capture.Read(destination) && !destination.Empty();
    }

    /// <summary>Replaces the capture; throws <see cref="SourceException"/> with <paramref name="whyNot"/> when it did not open.</summary>
    protected void SetCapture(VideoCapture capture, string whyNot)
    {
        Capture?.Dispose();
        Capture = null;
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new SourceException($"{Description}: {whyNot}");
        }

        Capture = capture;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Capture?.Dispose();
        Capture = null;
        GC.SuppressFinalize(this);
    }
}
