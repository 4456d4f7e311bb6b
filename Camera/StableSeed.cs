namespace Inspection.Camera;

/// <summary>
/// Derives one seed from several numbers, the same in every process. <see cref="HashCode.Combine{T1,T2}"/> is
/// randomised per process, so seeds built with it would make "seeded" frames, augmentation and shuffles differ run to run.
/// </summary>
public static class StableSeed
{
    /// <summary>Mixes the parts (SplitMix64 steps) into a 32-bit seed.</summary>
    public static int Combine(params ReadOnlySpan<long> parts)
    {
        var state = 0x9E3779B97F4A7C15UL;
        foreach (var part in parts)
        {
            state = Mix(state ^ unchecked((ulong)part));
        }

        return unchecked((int)(state ^ (state >> 32)));
    }

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
