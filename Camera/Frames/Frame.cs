using System.Diagnostics.CodeAnalysis;
using OpenCvSharp;

namespace Inspection.Camera.Frames;

/// <summary>
/// One captured image and where it came from. Owns its <see cref="Mat"/>: whoever reads a frame from a channel
/// disposes it (a dropped frame is disposed by the channel's drop callback).
/// </summary>
public sealed class Frame : IDisposable
{
    /// <summary>Creates a frame that takes ownership of <paramref name="image"/>.</summary>
    public Frame(string cameraId, long sequence, Mat image, string source, DateTimeOffset capturedAt, long monotonicTimestamp)
    {
        CameraId = cameraId;
        Sequence = sequence;
        Image = image;
        Source = source;
        CapturedAt = capturedAt;
        MonotonicTimestamp = monotonicTimestamp;
    }

    /// <summary>Camera id from the configuration.</summary>
    public string CameraId { get; }

    /// <summary>The source's frame number, from 1, contiguous unless frames were dropped at the source.</summary>
    public long Sequence { get; }

    /// <summary>Pixels: 8-bit or 16-bit, 1 or 3 channels (BGR), as decoded.</summary>
    public Mat Image { get; }

    /// <summary>Source description (URI with credentials masked, or file path).</summary>
    public string Source { get; }

    /// <summary>Capture time, UTC wall clock.</summary>
    public DateTimeOffset CapturedAt { get; }

    /// <summary>Capture time on the monotonic clock (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for latency.</summary>
    public long MonotonicTimestamp { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width => Image.Cols;

    /// <summary>Image height in pixels.</summary>
    public int Height => Image.Rows;

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "A frame owns the Mat given to its constructor.")]
    public void Dispose() => Image.Dispose();
}
