namespace Inspection.Camera.Capture;

/// <summary>Where a camera's capture loop stands.</summary>
public enum SourceState
{
    /// <summary>Opening the source for the first time.</summary>
    Connecting,

    /// <summary>Open and delivering frames.</summary>
    Connected,

    /// <summary>No frame arrived within the stall timeout; the source is being abandoned.</summary>
    Stalled,

    /// <summary>Waiting out the backoff delay, then opening the source again.</summary>
    Reconnecting,

    /// <summary>The stream ended (a file or folder without loop), the source cannot be created, or the loop was stopped.</summary>
    Ended,
}

/// <summary>A change of <see cref="SourceState"/>, for the daemon to log and publish.</summary>
/// <param name="CameraId">Camera id from the configuration.</param>
/// <param name="Previous">State before the change.</param>
/// <param name="State">State after the change.</param>
/// <param name="Reason">Why, in words (the error that caused a reconnect, for example); null when there is nothing to add.</param>
/// <param name="At">When the change happened (UTC).</param>
public sealed record SourceStateChanged(string CameraId, SourceState Previous, SourceState State, string? Reason, DateTimeOffset At);

/// <summary>Counters of one capture loop at one moment.</summary>
/// <param name="FramesRead">Frames read from the source (reconnects included).</param>
/// <param name="FramesDelivered">Frames handed on: written to the channel, or kept as the latest in trigger mode.</param>
/// <param name="FramesDropped">Frames the channel dropped (oldest first) because the consumer was behind.</param>
/// <param name="FramesSkipped">Frames skipped to respect the fps cap.</param>
/// <param name="Reconnects">Times the source was reopened after a failure or stall.</param>
/// <param name="Fps">Frames read per second, measured over the last second or so.</param>
/// <param name="State">Current state.</param>
/// <param name="LastError">The last failure, naming the source; null when none happened.</param>
/// <param name="Width">Width of the last frame read (before the ROI crop); 0 before the first.</param>
/// <param name="Height">Height of the last frame read (before the ROI crop); 0 before the first.</param>
public sealed record CaptureStats(
    long FramesRead,
    long FramesDelivered,
    long FramesDropped,
    long FramesSkipped,
    long Reconnects,
    double Fps,
    SourceState State,
    string? LastError,
    int Width,
    int Height);
