using System.Diagnostics;

namespace Inspection.Trainer.Cli;

/// <summary>
/// Remaining time from the pace of the steps seen so far. The clock starts at the first step reported, so data
/// loading before training and the epochs a resumed run skips do not distort the pace.
/// </summary>
internal sealed class EtaClock
{
    private long _startTimestamp;
    private long _startDone = -1;

    /// <summary>Seconds since the first step was reported.</summary>
    public double ElapsedSeconds => _startDone < 0 ? 0 : Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;

    /// <summary>The last estimate, null until two steps were seen.</summary>
    public double? RemainingSeconds { get; private set; }

    /// <summary>Records step <paramref name="step"/> of <paramref name="steps"/> in epoch <paramref name="epoch"/> of <paramref name="epochs"/>.</summary>
    public void Step(int epoch, int epochs, int step, int steps)
    {
        var done = ((long)(epoch - 1) * steps) + step;
        if (_startDone < 0)
        {
            _startDone = done;
            _startTimestamp = Stopwatch.GetTimestamp();
            return;
        }

        if (done > _startDone)
        {
            RemainingSeconds = ElapsedSeconds / (done - _startDone) * (((long)epochs * steps) - done);
        }
    }
}
