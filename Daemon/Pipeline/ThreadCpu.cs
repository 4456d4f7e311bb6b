using System.Runtime.InteropServices;

namespace Inspection.Daemon.Pipeline;

/// <summary>CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID): what a stage cost in CPU, not in wall time,
/// so a stage preempted by the model threads of another camera is not charged for their work.</summary>
internal static partial class ThreadCpu
{
    private const int ThreadCpuTimeClock = 3;

    /// <summary>The thread's CPU time so far, in milliseconds.</summary>
    public static double NowMs() => ClockGetTime(ThreadCpuTimeClock, out var time) == 0 ? (time.Seconds * 1e3) + (time.Nanoseconds / 1e6) : 0;

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}

/// <summary>CPU time (this thread's, milliseconds) one frame spent outside the models: preprocessing, and
/// postprocessing (mask analysis, regions, the result record and its snapshot hand-off).</summary>
internal readonly record struct StageCpu(double PreprocessMs, double PostprocessMs);
