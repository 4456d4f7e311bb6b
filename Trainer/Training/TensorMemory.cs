using System.Runtime.InteropServices;
using Inspection.Config.Processes;

namespace Inspection.Trainer.Training;

/// <summary>
/// Keeps the memory libtorch frees for the next training step instead of giving it back to the kernel.
/// glibc's malloc gives a block above its mmap threshold (at most 32 MB) a mapping of its own and unmaps it on free,
/// so every step maps its large activations afresh and takes a page fault on each 4 KB of them while the kernel zeroes
/// it: a ResNet-18 step at 288 px, batch 32 faulted 3 million times and spent a fifth of the trainer's CPU in the kernel.
/// With mmap off and trimming off, freed blocks stay in the heap and the next step reuses them. The price is that the
/// heap keeps its peak size until the process ends (peak RSS about 40% higher in that measurement), which suits a
/// training process. Linux/glibc only; elsewhere nothing changes.
/// </summary>
internal static class TensorMemory
{
    private const int TrimThresholdParameter = -1; // M_TRIM_THRESHOLD
    private const int MmapMaxParameter = -4; // M_MMAP_MAX

    /// <summary>Whether freed memory is kept for reuse (set by <see cref="KeepFreedForReuse"/>).</summary>
    public static bool KeepingFreed { get; private set; }

    /// <summary>Turns glibc's mmap and trimming off for the rest of the process; false where that is not possible.</summary>
    public static bool KeepFreedForReuse()
    {
        if (KeepingFreed)
        {
            return true;
        }

        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            KeepingFreed = Mallopt(MmapMaxParameter, 0) == 1 && Mallopt(TrimThresholdParameter, int.MaxValue) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            KeepingFreed = false; // not glibc
        }

        return KeepingFreed;
    }

    /// <summary>This process's minor page faults so far (Linux; 0 elsewhere), to show what the setting saves.</summary>
    public static long MinorPageFaults() => ProcStat.TryRead("/proc/self")?.MinorFaults ?? 0;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
}
