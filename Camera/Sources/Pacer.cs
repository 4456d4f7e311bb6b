using System.Diagnostics;

namespace Inspection.Camera.Sources;

/// <summary>Sleeps so that frame n is handed out no earlier than n / fps seconds after the start (no drift).</summary>
internal sealed class Pacer(double fps)
{
    private readonly Stopwatch _clock = new();
    private long _count;

    public void Restart()
    {
        _clock.Restart();
        _count = 0;
    }

    public void Wait()
    {
        if (fps <= 0)
        {
            return;
        }

        if (!_clock.IsRunning)
        {
            _clock.Start();
        }

        var due = TimeSpan.FromSeconds(_count++ / fps) - _clock.Elapsed;
        if (due > TimeSpan.Zero)
        {
            Thread.Sleep(due);
        }
    }
}
