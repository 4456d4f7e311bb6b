using Inspection.Camera.Preprocessing;

namespace Inspection.Trainer.Datasets.Segmentation;

/// <summary>One image and its mask. <see cref="Split"/> is the dataset's own split (train/validation/test) when its folders say so.</summary>
internal sealed record SegmentationPair(string Id, string ImagePath, string MaskPath, string? Split);

/// <summary>What a folder scan found: the pairs, and every image file that could not be paired (by path).</summary>
internal sealed record SegmentationScan(
    string Root,
    string Layout,
    IReadOnlyList<SegmentationPair> Pairs,
    IReadOnlyList<string> ImagesWithoutMask,
    IReadOnlyList<string> MasksWithoutImage,
    IReadOnlyList<string> Ignored)
{
    /// <summary>One warning line per file left out, naming it relative to the root.</summary>
    public IEnumerable<string> Warnings()
    {
        foreach (var file in ImagesWithoutMask)
        {
            yield return $"image without a mask, left out: {Path.GetRelativePath(Root, file)}";
        }

        foreach (var file in MasksWithoutImage)
        {
            yield return $"mask without an image, left out: {Path.GetRelativePath(Root, file)}";
        }

        foreach (var file in Ignored)
        {
            yield return $"not part of the {Layout} layout, left out: {Path.GetRelativePath(Root, file)}";
        }
    }
}

/// <summary>
/// Finds image/mask pairs in the layouts segmentation datasets come in, chosen automatically:
/// <list type="bullet">
/// <item><c>images-masks</c>: an <c>images/</c> folder with a sibling <c>masks/</c>, <c>annotations/</c> or
/// <c>labels/</c>, same relative paths and stems, optional split subfolders (<c>training/</c>, <c>test/</c>, …) as in NEU-Seg;</item>
/// <item><c>label-suffix</c>: <c>X.bmp</c> next to <c>X_label.bmp</c> (or <c>X_mask.png</c>), in any nesting of folders;</item>
/// <item><c>same-stem</c>: <c>X.jpg</c> next to the mask <c>X.png</c>.</item>
/// </list>
/// Nothing is dropped silently: every image file that is not in a pair is listed in the scan.
/// </summary>
internal static class SegmentationPairFinder
{
    private static readonly string[] MaskFolderNames = ["masks", "annotations", "labels"];
    private static readonly string[] MaskSuffixes = ["_label", "_mask"];

    private static readonly Dictionary<string, string> SplitNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["train"] = "train", ["training"] = "train",
        ["val"] = "validation", ["valid"] = "validation", ["validation"] = "validation",
        ["test"] = "test", ["testing"] = "test",
    };

    /// <summary>Scans <paramref name="root"/> recursively; throws <see cref="DatasetException"/> when it holds no pair at all.</summary>
    public static SegmentationScan Find(string root)
    {
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root))
        {
            throw new DatasetException($"{root}: segmentation data folder does not exist");
        }

        var files = Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = System.IO.FileAttributes.Hidden })
            .Where(ImageFiles.IsImage)
            .Order(StringComparer.Ordinal)
            .ToList();

        var scan = FindFolderPairs(root, files) ?? (files.Any(IsSuffixMask) ? FindSuffixPairs(root, files) : FindSameStemPairs(root, files));
        if (scan.Pairs.Count == 0)
        {
            var found = files.Count == 0 ? "no image files" : $"{files.Count} image files but no image/mask pair";
            throw new DatasetException(
                $"{root}: {found}. Expected images/ + masks/ (or annotations/, labels/) with the same names, X.bmp + X_label.bmp, or X.jpg + X.png");
        }

        return scan;
    }

    private static bool IsSuffixMask(string file) =>
        MaskSuffixes.Any(s => Path.GetFileNameWithoutExtension(file).EndsWith(s, StringComparison.OrdinalIgnoreCase));

    private static string Key(string relativePath) =>
        Path.Combine(Path.GetDirectoryName(relativePath) ?? "", Path.GetFileNameWithoutExtension(relativePath));

    private static SegmentationScan? FindFolderPairs(string root, List<string> files)
    {
        // Every folder named images/ (at any depth) that has a mask folder beside it.
        var imageDirs = Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).Prepend(root)
            .Where(d => Path.GetFileName(d).Equals("images", StringComparison.OrdinalIgnoreCase))
            .Select(d => (Images: d, Masks: MaskFolderNames.Select(n => FindChild(Path.GetDirectoryName(d)!, n)).FirstOrDefault(m => m is not null)))
            .Where(p => p.Masks is not null)
            .Order()
            .ToList();
        if (imageDirs.Count == 0)
        {
            return null;
        }

        var pairs = new List<SegmentationPair>();
        var withoutMask = new List<string>();
        var withoutImage = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (images, masks) in imageDirs)
        {
            var imageFiles = files.Where(f => IsUnder(f, images)).ToList();
            var maskFiles = files.Where(f => IsUnder(f, masks!)).ToList();
            used.UnionWith(imageFiles);
            used.UnionWith(maskFiles);
            var masksByKey = GroupByKey(maskFiles, masks!);
            var imageKeys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var image in imageFiles)
            {
                var relative = Path.GetRelativePath(images, image);
                var key = Key(relative);
                imageKeys.Add(key);
                if (masksByKey.TryGetValue(key, out var candidates) && candidates.Count == 1)
                {
                    var id = Key(Path.GetRelativePath(root, image));
                    var first = relative.Split(Path.DirectorySeparatorChar)[0];
                    var split = relative.Contains(Path.DirectorySeparatorChar) && SplitNames.TryGetValue(first, out var s) ? s : null;
                    pairs.Add(new SegmentationPair(id, image, candidates[0], split));
                }
                else
                {
                    withoutMask.Add(image);
                }
            }

            // Masks with no image, and masks that share a stem (N.png and N.bmp: which one is meant?).
            withoutImage.AddRange(masksByKey.Where(m => !imageKeys.Contains(m.Key) || m.Value.Count > 1).SelectMany(m => m.Value));
        }

        var ignored = files.Where(f => !used.Contains(f)).ToList();
        return new SegmentationScan(root, "images-masks", pairs, withoutMask, withoutImage, ignored);
    }

    private static SegmentationScan FindSuffixPairs(string root, List<string> files)
    {
        var masks = files.Where(IsSuffixMask).ToList();
        var images = files.Where(f => !IsSuffixMask(f)).ToList();
        var imagesByKey = GroupByKey(images, root);
        var pairs = new List<SegmentationPair>();
        var withoutImage = new List<string>();
        var paired = new HashSet<string>(StringComparer.Ordinal);
        foreach (var mask in masks)
        {
            var key = Key(Path.GetRelativePath(root, mask));
            var suffix = MaskSuffixes.First(s => key.EndsWith(s, StringComparison.OrdinalIgnoreCase));
            var imageKey = key[..^suffix.Length];
            if (imagesByKey.TryGetValue(imageKey, out var candidates) && candidates.Count == 1 && paired.Add(candidates[0]))
            {
                pairs.Add(new SegmentationPair(imageKey, candidates[0], mask, null));
            }
            else
            {
                withoutImage.Add(mask);
            }
        }

        var withoutMask = images.Where(i => !paired.Contains(i)).ToList();
        return new SegmentationScan(root, "label-suffix", pairs.OrderBy(p => p.Id, StringComparer.Ordinal).ToList(), withoutMask, withoutImage, []);
    }

    private static SegmentationScan FindSameStemPairs(string root, List<string> files)
    {
        var pairs = new List<SegmentationPair>();
        var withoutMask = new List<string>();
        var withoutImage = new List<string>();
        foreach (var (key, group) in GroupByKey(files, root).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var masks = group.Where(f => Path.GetExtension(f).Equals(".png", StringComparison.OrdinalIgnoreCase)).ToList();
            var images = group.Except(masks).ToList();
            if (masks.Count == 1 && images.Count == 1)
            {
                pairs.Add(new SegmentationPair(key, images[0], masks[0], null));
            }
            else
            {
                withoutMask.AddRange(images);
                withoutImage.AddRange(masks);
            }
        }

        return new SegmentationScan(root, "same-stem", pairs, withoutMask, withoutImage, []);
    }

    private static Dictionary<string, List<string>> GroupByKey(IEnumerable<string> files, string baseDir) =>
        files.GroupBy(f => Key(Path.GetRelativePath(baseDir, f)), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

    private static bool IsUnder(string file, string dir) =>
        file.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string? FindChild(string parent, string name) =>
        Directory.EnumerateDirectories(parent).FirstOrDefault(d => Path.GetFileName(d).Equals(name, StringComparison.OrdinalIgnoreCase));
}
