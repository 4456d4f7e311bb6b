using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Inspection.Trainer.Datasets.Segmentation;

namespace Inspection.Trainer.Datasets;

/// <summary>
/// Assigns each sample to train, validation or test by a hash of its path relative to the dataset root (and the seed),
/// so a sample keeps its split as the dataset grows: adding or removing other files never moves it, and a retrained
/// model is not tested on images its parent trained on. The hash places each sample at a position in [0, 1); test takes
/// [0, test fraction), validation the next validation fraction, train the rest.
/// </summary>
internal static class StableSplit
{
    /// <summary>The manifest's <c>training.split</c> key that marks a split made this way (value 1).</summary>
    public const string MethodKey = "stable_hash";

    /// <summary>Position of <paramref name="relativePath"/> in [0, 1) for <paramref name="seed"/>; '\' and '/' are the same.</summary>
    public static double Position(string relativePath, int seed)
    {
        var key = $"{seed}:{relativePath.Replace('\\', '/')}";
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return (BinaryPrimitives.ReadUInt64BigEndian(hash) >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>The split of one sample.</summary>
    public static string Of(string relativePath, int seed, double validationFraction, double testFraction)
    {
        var position = Position(relativePath, seed);
        return position < testFraction ? Splits.Test : position < testFraction + validationFraction ? Splits.Validation : Splits.Train;
    }

    /// <summary>
    /// Splits by hash, then makes sure every held-out split that should get a share of a stratum (a class) has at least
    /// one member of it: where the hash gave it none, the training member with the lowest position
    /// moves there. That only happens on tiny datasets (a split's expected share under about 3 samples); it is the one
    /// case where adding files can move an existing one, and the count of such moves is returned.
    /// </summary>
    /// <param name="ids">Relative paths.</param>
    /// <param name="stratum">Stratum of each sample (e.g. defective or not).</param>
    /// <param name="seed">Seed.</param>
    /// <param name="validationFraction">Validation share.</param>
    /// <param name="testFraction">Test share (0: no test split, e.g. when the dataset has its own).</param>
    /// <param name="forced">Samples moved to give a split its first member of a stratum.</param>
    public static string[] Assign(IReadOnlyList<string> ids, IReadOnlyList<bool> stratum, int seed, double validationFraction, double testFraction, out int forced)
    {
        var positions = ids.Select(id => Position(id, seed)).ToArray();
        var splits = positions.Select(p => p < testFraction ? Splits.Test : p < testFraction + validationFraction ? Splits.Validation : Splits.Train).ToArray();
        forced = 0;
        foreach (var group in Enumerable.Range(0, ids.Count).GroupBy(i => stratum[i]))
        {
            foreach (var (split, fraction) in new[] { (Splits.Test, testFraction), (Splits.Validation, validationFraction) })
            {
                if (fraction <= 0 || group.Any(i => splits[i] == split))
                {
                    continue;
                }

                var candidates = group.Where(i => splits[i] == Splits.Train).ToList();
                if (candidates.Count > 1)
                {
                    splits[candidates.MinBy(i => positions[i])] = split;
                    forced++;
                }
            }
        }

        return splits;
    }
}
