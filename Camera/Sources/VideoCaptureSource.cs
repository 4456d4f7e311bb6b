using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>The part shared by the sources OpenCV's <see cref="VideoCapture"/> reads: owning and releasing the capture.</summary>
internal abstract class VideoCaptureSource : IFrameSource
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
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "SetCapture takes ownership of the new capture its callers create.")]
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
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the capture (owned: see <see cref="SetCapture"/>).</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "The source owns the capture handed to SetCapture.")]
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Capture?.Dispose();
            Capture = null;
        }
    }
}
