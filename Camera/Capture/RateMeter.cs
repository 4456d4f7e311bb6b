namespace Inspection.Camera.Capture;

/// <summary>Frames read per second, measured over windows of about a second. Not thread-safe: the capture loop calls it
/// under its stats lock.</summary>
internal sealed class RateMeter(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    private long _windowStart;
    private long _windowFrames;
    private double _fps;

    /// <summary>The rate over the last full window; before the first, the partial one rather than nothing.</summary>
    public double Fps => _fps == 0 && _windowFrames > 0 ? _windowFrames / time.GetElapsedTime(_windowStart).TotalSeconds : _fps;

    /// <summary>Counts a frame read at <paramref name="now"/> (a <see cref="TimeProvider.GetTimestamp"/>).</summary>
    public void Count(long now)
    {
        if (_windowStart == 0)
        {
            _windowStart = now;
            return;
        }

        _windowFrames++;
        var elapsed = time.GetElapsedTime(_windowStart, now);
        if (elapsed >= Window)
        {
            _fps = _windowFrames / elapsed.TotalSeconds;
            _windowStart = now;
            _windowFrames = 0;
        }
    }
}
