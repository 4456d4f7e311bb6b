using System.Diagnostics;
using System.Runtime;

namespace Inspection.Daemon.Benchmarks;

/// <summary>When the process is warm enough to measure. .NET compiles hot methods again in the background (tiered
/// compilation with dynamic PGO), for seconds after start: on the 2-core VM it took 3-4 s of CPU, which inside a
/// 300-frame window is ~12 ms per frame taken from the models, a cost a daemon pays once, not per frame. So the
/// warm-up lasts until the JIT spent at most <see cref="MaxJitShare"/> of the last <paramref name="quiet"/> compiling
/// (<see cref="JitInfo.GetCompilationTime"/>), or <paramref name="limit"/> has passed (<see cref="TimedOut"/>).
/// <see cref="None"/> is warm at once.</summary>
internal sealed class WarmUp(TimeSpan quiet, TimeSpan limit)
{
    public const double MaxJitShare = 0.01;
    private readonly List<(long At, double JitMs)> _samples = [];
    private readonly long _started = Stopwatch.GetTimestamp();

    public static WarmUp None => new(TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>True when the warm-up ended because <c>limit</c> passed, with the JIT still busy.</summary>
    public bool TimedOut { get; private set; }

    public bool IsWarm()
    {
        if (quiet <= TimeSpan.Zero)
        {
            return true;
        }

        lock (_samples)
        {
            var now = Stopwatch.GetTimestamp();
            var jit = JitInfo.GetCompilationTime().TotalMilliseconds;
            _samples.Add((now, jit));

            // Keep the newest sample that is at least `quiet` old as the start of the span looked at.
            while (_samples.Count > 2 && Stopwatch.GetElapsedTime(_samples[1].At, now) >= quiet)
            {
                _samples.RemoveAt(0);
            }

            var span = Stopwatch.GetElapsedTime(_samples[0].At, now);
            if (span >= quiet && jit - _samples[0].JitMs <= MaxJitShare * span.TotalMilliseconds)
            {
                return true;
            }

            TimedOut = Stopwatch.GetElapsedTime(_started, now) > limit;
            return TimedOut;
        }
    }
}
