using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Datasets;

/// <summary>
/// Reading a package's dataset again as its training run split it: the load options from the seed, fractions, cutoff
/// and mask threshold its manifest records, and a check of the result against the package's <c>split.csv</c>.
/// </summary>
internal static class RecordedSplit
{
    /// <summary>Classification load options from the manifest (a given cutoff replaces the recorded one).</summary>
    public static ClassificationDataOptions ClassificationOptions(ModelManifest manifest, double? defectCutoff = null)
    {
        var recorded = manifest.Training.Split;
        return new ClassificationDataOptions
        {
            DefectCutoff = defectCutoff ?? recorded.GetValueOrDefault("defect_cutoff", 0.5),
            Seed = (int)recorded.GetValueOrDefault("seed", 42),
            ValidationFraction = recorded.GetValueOrDefault("validation_fraction", 0.15),
            TestFraction = recorded.GetValueOrDefault("test_fraction", 0.15),
        };
    }

    /// <summary>Segmentation load options from the manifest (input size, channels, split; a given mask threshold replaces the recorded one).</summary>
    public static SegmentationLoadOptions SegmentationOptions(ModelManifest manifest, double? maskThreshold = null, int limit = 0)
    {
        var recorded = manifest.Training.Split;
        return new SegmentationLoadOptions
        {
            Width = manifest.Input.Width,
            Height = manifest.Input.Height,
            Channels = manifest.Input.Channels,
            MaskThreshold = maskThreshold ?? double.Parse(manifest.Training.Augmentation.GetValueOrDefault("mask_threshold", "0"), CultureInfo.InvariantCulture),
            Seed = (int)recorded.GetValueOrDefault("seed", 42),
            ValidationFraction = recorded.GetValueOrDefault("validation_fraction", 0.15),
            TestFraction = recorded.GetValueOrDefault("test_fraction", 0.15),
            Limit = limit,
        };
    }

    /// <summary>
    /// The ids the package's <c>split.csv</c> lists, checked against the split the reloaded data gives them: an id in
    /// another split, or one the data no longer has, is an error naming it (the package would be judged on images it
    /// trained on). Null when the package has no <c>split.csv</c>.
    /// </summary>
    public static HashSet<string>? Check(ModelPackage package, string dataRoot, IEnumerable<(string Id, string Split)> reloaded)
    {
        var path = Path.Combine(package.Directory, DeployedComparison.SplitFile);
        if (!File.Exists(path))
        {
            return null;
        }

        var recorded = File.ReadLines(path).Skip(1).Select(line => line.Split(',')).Where(f => f.Length >= 3)
            .ToDictionary(f => string.Join(',', f[..^2]), f => f[^1], StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, split) in reloaded)
        {
            if (recorded.TryGetValue(id, out var was))
            {
                if (was != split)
                {
                    throw new DatasetException($"{dataRoot}: image '{id}' is in the {split} split now, but {path} records it in {was}: the data or its split settings changed since the package was trained");
                }

                found.Add(id);
            }
        }

        var missing = recorded.Keys.Where(id => !found.Contains(id)).ToList();
        if (missing.Count > 0)
        {
            throw new DatasetException($"{dataRoot}: {missing.Count} of the {recorded.Count} images {path} lists are missing (first: '{missing[0]}')");
        }

        return found;
    }
}
