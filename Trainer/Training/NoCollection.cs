using System.Runtime;

namespace Inspection.Trainer.Training;

/// <summary>
/// Keeps the garbage collector out of one training or evaluation step. TorchSharp passes temporary Scalars to libtorch
/// by raw handle; a collection started by any other thread during that native call lets their finalizer free them
/// mid-call ("Expected false to be true ... toFloat", or worse). Moving progress drawing onto the training thread made
/// it rarer but a 3 000-image NEU-Seg run still hit it, so each step runs in a no-GC region: collections happen between
/// steps, on the training thread, where no TorchSharp call is in flight. The budget is far above a step's managed
/// allocations (tensor data lives in native memory); if it is ever used up, the region ends and the step goes on.
/// </summary>
internal readonly struct NoCollection : IDisposable
{
    private const long Budget = 64L * 1024 * 1024;
    private readonly bool _entered;

    private NoCollection(bool entered) => _entered = entered;

    /// <summary>Enters a no-GC region unless one is already active (nested steps, another thread's region).</summary>
    public static NoCollection Enter()
    {
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            return default;
        }

        try
        {
            return new NoCollection(GC.TryStartNoGCRegion(Budget));
        }
        catch (InvalidOperationException)
        {
            return default; // another thread entered one first
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_entered || GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
        {
            return;
        }

        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // The budget ran out and a collection already ended the region.
        }
    }
}
