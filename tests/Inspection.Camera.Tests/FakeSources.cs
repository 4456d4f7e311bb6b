using Inspection.Camera.Sources;
using OpenCvSharp;

namespace Inspection.Camera.Tests;

/// <summary>A source whose behaviour the test scripts: frames with their number as the pixel value, failures, blocking.</summary>
internal sealed class ScriptedSource(string name = "scripted://test") : IFrameSource
{
    private long _read;

    /// <summary>Thrown from <see cref="Open"/> when set.</summary>
    public string? OpenError { get; init; }

    /// <summary>Reads after which <see cref="Read"/> fails (stream lost); 0 = never.</summary>
    public int FailAfter { get; init; }

    /// <summary>Reads after which <see cref="Read"/> blocks until <see cref="Release"/>; 0 = never.</summary>
    public int BlockAfter { get; init; }

    /// <summary>Reads after which the stream ends; 0 = never.</summary>
    public int EndAfter { get; init; }

    /// <summary>Frame size.</summary>
    public Size Size { get; init; } = new(32, 24);

    public ManualResetEventSlim Release { get; } = new();

    public ManualResetEventSlim Blocked { get; } = new();

    public List<Mat> Destinations { get; } = [];

    public bool Disposed { get; private set; }

    public string Description => name;

    public bool EndOfStream { get; private set; }

    public void Open()
    {
        if (OpenError is not null)
        {
            throw new SourceException(OpenError);
        }
    }

    public bool Read(Mat destination)
    {
        _read++;
        if (BlockAfter > 0 && _read > BlockAfter)
        {
            Blocked.Set();
            Release.Wait();
            return false;
        }

        if (FailAfter > 0 && _read > FailAfter)
        {
            return false;
        }

        if (EndAfter > 0 && _read > EndAfter)
        {
            EndOfStream = true;
            return false;
        }

        lock (Destinations)
        {
            Destinations.Add(destination);
        }

        destination.Create(Size.Height, Size.Width, MatType.CV_8UC1);
        destination.SetTo(Scalar.All(_read % 256));
        return true;
    }

    public void Dispose() => Disposed = true;
}
