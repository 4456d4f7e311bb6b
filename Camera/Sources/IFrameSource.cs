using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>
/// A raw frame source: a camera, stream, file, image folder or generator. Blocking and single-threaded: one thread
/// opens, reads and disposes it. <see cref="Capture.CaptureLoop"/> adds reconnects, stall detection and queues.
/// </summary>
public interface IFrameSource : IDisposable
{
    /// <summary>Where frames come from: the URI with any password masked.</summary>
    string Description { get; }

    /// <summary>
    /// True when the last <see cref="Read"/> returned false because the stream truly ended (a file or folder read to
    /// its end without looping), false when it failed (a stream went away, a decode error) and reopening may help.
    /// </summary>
    bool EndOfStream { get; }

    /// <summary>Opens the source; throws <see cref="SourceException"/> naming the URI, device or file when it cannot.</summary>
    void Open();

    /// <summary>Reads the next frame into <paramref name="destination"/>; false at the end of the stream or on a failed read.</summary>
    bool Read(Mat destination);
}

/// <summary>A source that cannot be created, opened or read; the message names the URI, device or file.</summary>
public sealed class SourceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SourceException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public SourceException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// A source whose blocked <see cref="IFrameSource.Read"/> can be released from another thread (by stopping the process
/// or connection behind it). The capture loop calls <see cref="Interrupt"/> when it abandons a stalled or cancelled
/// read, so no reader thread waits on a dead stream for long.
/// </summary>
internal interface IInterruptibleSource
{
    /// <summary>Makes a blocked or future read return false soon; safe to call from any thread, more than once.</summary>
    void Interrupt();
}
