namespace Inspection.Camera.Capture;

/// <summary>The camera's <c>MaxFps</c>: which frames go on so that at most that many a second do; 0 or less takes every
/// frame. Called from the reader thread only.</summary>
internal sealed class FpsCap(double maxFps, TimeProvider time)
{
    private long _nextDue;

    /// <summary>Whether the frame read at <paramref name="now"/> (a <see cref="TimeProvider.GetTimestamp"/>) goes on.</summary>
    public bool Take(long now)
    {
        if (maxFps <= 0)
        {
            return true;
        }

        var interval = (long)(time.TimestampFrequency / maxFps);
        if (now < _nextDue)
        {
            return false;
        }

        // Keep to the schedule when on time; after a gap, restart it from now instead of bursting to catch up.
        _nextDue = now - _nextDue > interval ? now + interval : _nextDue + interval;
        return true;
    }
}
