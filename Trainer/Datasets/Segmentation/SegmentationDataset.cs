using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Inspection.Camera.Preprocessing;
using OpenCvSharp;

namespace Inspection.Trainer.Datasets.Segmentation;

/// <summary>The three splits a sample can be in.</summary>
internal static class Splits
{
    /// <summary>Training data.</summary>
    public const string Train = "train";

    /// <summary>Held out for the threshold and model selection.</summary>
    public const string Validation = "validation";

    /// <summary>Held out for the reported figures.</summary>
    public const string Test = "test";
}

/// <summary>
/// One image and its binary mask, resized to the model's input size: the image with area interpolation (as the
/// shared preprocessor does), the mask with nearest neighbour so it stays 0/1.
/// </summary>
internal sealed class SegmentationSample(SegmentationPair pair, Mat image, Mat mask, string split) : IDisposable
{
    /// <summary>Pair the sample came from.</summary>
    public SegmentationPair Pair { get; } = pair;

    /// <summary>Sample id: the image's path relative to the dataset root, without extension.</summary>
    public string Id => Pair.Id;

    /// <summary>8-bit image, BGR or grey, at the input size.</summary>
    public Mat Image { get; } = image;

    /// <summary>8-bit mask at the input size, 1 = foreground.</summary>
    public Mat Mask { get; } = mask;

    /// <summary><see cref="Splits.Train"/>, <see cref="Splits.Validation"/> or <see cref="Splits.Test"/>.</summary>
    public string Split { get; } = split;

    /// <summary>Foreground pixels in <see cref="Mask"/>.</summary>
    public int ForegroundPixels { get; } = Cv2.CountNonZero(mask);

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "A sample owns the image and mask given to its constructor.")]
    public void Dispose()
    {
        Image.Dispose();
        Mask.Dispose();
    }
}

/// <summary>Options for loading a segmentation dataset.</summary>
internal sealed record SegmentationLoadOptions
{
    /// <summary>Input width the samples are resized to.</summary>
    public int Width { get; init; } = 256;

    /// <summary>Input height the samples are resized to.</summary>
    public int Height { get; init; } = 256;

    /// <summary>1 (grey), 3 (colour) or null: grey when every image file is single-channel, else colour.</summary>
    public int? Channels { get; init; }

    /// <summary>Mask values above this are foreground.</summary>
    public double MaskThreshold { get; init; }

    /// <summary>Seed of the split.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Fraction held out for validation (from the training part when the dataset has its own split).</summary>
    public double ValidationFraction { get; init; } = 0.15;

    /// <summary>Fraction held out for test (unused when the dataset has its own test split).</summary>
    public double TestFraction { get; init; } = 0.15;

    /// <summary>Use at most this many pairs per split (0 = all), picked evenly; for quick runs and measurements.</summary>
    public int Limit { get; init; }
}

/// <summary>
/// A segmentation dataset in memory: pairs found by <see cref="SegmentationPairFinder"/>, checked (sizes, colour
/// masks, readable files, some foreground somewhere), resized, and split deterministically.
/// </summary>
internal sealed class SegmentationDataset : IDisposable
{
    private SegmentationDataset(SegmentationScan scan, List<SegmentationSample> samples, int channels, string splitSource, string fingerprint, SegmentationLoadOptions options)
    {
        Scan = scan;
        Samples = samples;
        Channels = channels;
        SplitSource = splitSource;
        Fingerprint = fingerprint;
        Options = options;
    }

    /// <summary>The scan the samples came from, with its warnings.</summary>
    public SegmentationScan Scan { get; }

    /// <summary>All samples, in id order.</summary>
    public IReadOnlyList<SegmentationSample> Samples { get; }

    /// <summary>Image channels the model takes: 1 or 3.</summary>
    public int Channels { get; }

    /// <summary><c>dataset</c> when the folders gave the split, <c>seeded</c> when it was drawn.</summary>
    public string SplitSource { get; }

    /// <summary>SHA-256 over the pairs' relative paths, sizes and splits.</summary>
    public string Fingerprint { get; }

    /// <summary>Options it was loaded with.</summary>
    public SegmentationLoadOptions Options { get; }

    /// <summary>Samples of one split.</summary>
    public IReadOnlyList<SegmentationSample> In(string split) => Samples.Where(s => s.Split == split).ToList();

    /// <summary><c>id,foreground,split</c> per pair, as written to the package's <c>split.csv</c>.</summary>
    public string SplitCsv() =>
        string.Join('\n', Samples.Select(s => $"{s.Id},{(s.ForegroundPixels > 0 ? 1 : 0)},{s.Split}").Prepend("id,foreground,split")) + "\n";

    /// <summary>Split sizes and seed, as recorded in the manifest.</summary>
    public Dictionary<string, double> SplitSummary() => new()
    {
        ["seed"] = Options.Seed,
        [Splits.Train] = In(Splits.Train).Count,
        [Splits.Validation] = In(Splits.Validation).Count,
        [Splits.Test] = In(Splits.Test).Count,
        [StableSplit.MethodKey] = 1,
        ["from_dataset_folders"] = SplitSource == "dataset" ? 1 : 0,
        ["validation_fraction"] = Options.ValidationFraction,
        ["test_fraction"] = Options.TestFraction,
    };

    /// <summary>Finds, reads, checks and splits the pairs under <paramref name="root"/>.</summary>
    /// <param name="root">Dataset folder.</param>
    /// <param name="options">Size, channels, mask threshold, split.</param>
    /// <param name="warn">Receives one line per file left out.</param>
    public static SegmentationDataset Load(string root, SegmentationLoadOptions options, Action<string>? warn = null)
    {
        var scan = SegmentationPairFinder.Find(root);
        foreach (var warning in scan.Warnings())
        {
            warn?.Invoke(warning);
        }

        var pairs = Limit(scan.Pairs, options.Limit);
        var problems = new List<string>();
        var loaded = new List<(SegmentationPair Pair, Mat Image, Mat Mask)>();
        foreach (var pair in pairs)
        {
            try
            {
                loaded.Add(Read(pair, options));
            }
            catch (DatasetException ex)
            {
                problems.Add(ex.Message);
            }
        }

        if (problems.Count > 0)
        {
            foreach (var (_, image, mask) in loaded)
            {
                image.Dispose();
                mask.Dispose();
            }

            throw new DatasetException($"{problems.Count} of {pairs.Count} pairs cannot be used:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", problems));
        }

        // Grey when every image is grey, also grey saved as colour JPEG (NEU-Seg): a 1-channel model is cheaper and loses nothing.
        var channels = options.Channels ?? (loaded.All(l => IsGrey(l.Image)) ? 1 : 3);
        foreach (var (_, image, _) in loaded)
        {
            ConvertChannels(image, channels);
        }

        var splits = AssignSplits(loaded.Select(l => (l.Pair, HasForeground: Cv2.CountNonZero(l.Mask) > 0)).ToList(), scan.Root, options, out var splitSource);
        var samples = loaded.Select((l, i) => new SegmentationSample(l.Pair, l.Image, l.Mask, splits[i])).ToList();
        if (samples.All(s => s.ForegroundPixels == 0))
        {
            foreach (var sample in samples)
            {
                sample.Dispose();
            }

            throw new DatasetException(
                $"{scan.Root}: all {pairs.Count} masks are background only (no value above {options.MaskThreshold}); nothing to learn. Check --mask-threshold or the mask files");
        }

        return new SegmentationDataset(scan, samples, channels, splitSource, FingerprintOf(scan.Root, samples), options);
    }

    private static List<SegmentationPair> Limit(IReadOnlyList<SegmentationPair> pairs, int limit)
    {
        if (limit <= 0)
        {
            return pairs.ToList();
        }

        // Evenly spaced within each split, so a quick run still sees the whole range of the data.
        return pairs.GroupBy(p => p.Split)
            .SelectMany(g =>
            {
                var list = g.ToList();
                var take = Math.Min(limit, list.Count);
                return Enumerable.Range(0, take).Select(i => list[(int)((long)i * list.Count / take)]);
            })
            .ToList();
    }

    private static bool IsGrey(Mat image)
    {
        if (image.Channels() == 1)
        {
            return true;
        }

        var planes = image.Split();
        try
        {
            using var first = new Mat();
            using var second = new Mat();
            Cv2.Absdiff(planes[0], planes[1], first);
            Cv2.Absdiff(planes[0], planes[2], second);
            return Cv2.CountNonZero(first) == 0 && Cv2.CountNonZero(second) == 0;
        }
        finally
        {
            foreach (var plane in planes)
            {
                plane.Dispose();
            }
        }
    }

    private static void ConvertChannels(Mat image, int channels)
    {
        ColorConversionCodes? code = (image.Channels(), channels) switch
        {
            (1, 3) => ColorConversionCodes.GRAY2BGR,
            (3, 1) => ColorConversionCodes.BGR2GRAY,
            (4, 1) => ColorConversionCodes.BGRA2GRAY,
            (4, 3) => ColorConversionCodes.BGRA2BGR,
            _ => null,
        };
        if (code is not null)
        {
            Cv2.CvtColor(image, image, code.Value);
        }
    }

    private static (SegmentationPair, Mat, Mat) Read(SegmentationPair pair, SegmentationLoadOptions options)
    {
        Mat raw;
        try
        {
            raw = ImageFiles.Read(pair.ImagePath);
        }
        catch (ImageReadException ex)
        {
            throw new DatasetException(ex.Message);
        }

        using (raw)
        using (var mask = MaskFiles.ReadBinary(pair.MaskPath, options.MaskThreshold))
        {
            if (mask.Size() != raw.Size())
            {
                throw new DatasetException(
                    $"{pair.MaskPath}: mask is {mask.Width}x{mask.Height} but its image {Path.GetFileName(pair.ImagePath)} is {raw.Width}x{raw.Height}");
            }

            if (raw.Depth() == MatType.CV_16U)
            {
                raw.ConvertTo(raw, MatType.MakeType(MatType.CV_8U, raw.Channels()), 1.0 / 257.0);
            }
            else if (raw.Depth() != MatType.CV_8U)
            {
                throw new DatasetException($"{pair.ImagePath}: unsupported pixel depth {raw.Type()} (expected 8 or 16 bit)");
            }

            var size = new Size(options.Width, options.Height);
            var image = new Mat();
            var resizedMask = new Mat();
            Cv2.Resize(raw, image, size, 0, 0, InterpolationFlags.Area);
            Cv2.Resize(mask, resizedMask, size, 0, 0, InterpolationFlags.Nearest);
            return (pair, image, resizedMask);
        }
    }

    // The dataset's own split wins (NEU-Seg's training/test); validation is then carved from its training part.
    // Otherwise a stable hash split.
    private static string[] AssignSplits(List<(SegmentationPair Pair, bool HasForeground)> items, string root, SegmentationLoadOptions options, out string source)
    {
        var splits = new string[items.Count];
        var fromFolders = items.Any(i => i.Pair.Split is not null);
        source = fromFolders ? "dataset" : "seeded";
        var hasOwnValidation = items.Any(i => i.Pair.Split == Splits.Validation);
        var free = new List<int>();
        for (var i = 0; i < items.Count; i++)
        {
            splits[i] = items[i].Pair.Split ?? Splits.Train;
            if (splits[i] == Splits.Train)
            {
                free.Add(i);
            }
        }

        // Free samples are split by a stable hash of the image's relative path (StableSplit), stratified on whether the
        // mask has any foreground, so pairs keep their split as the dataset grows.
        var assigned = StableSplit.Assign(
            free.Select(i => items[i].Pair.ImagePath).Select(p => Path.GetRelativePath(root, p)).ToList(),
            free.Select(i => items[i].HasForeground).ToList(),
            options.Seed, hasOwnValidation ? 0 : options.ValidationFraction, fromFolders ? 0 : options.TestFraction, out _);
        for (var k = 0; k < free.Count; k++)
        {
            splits[free[k]] = assigned[k];
        }

        return splits;
    }

    private static string FingerprintOf(string root, List<SegmentationSample> samples)
    {
        var text = new StringBuilder();
        foreach (var sample in samples)
        {
            text.Append(Path.GetRelativePath(root, sample.Pair.ImagePath)).Append('\t')
                .Append(Path.GetRelativePath(root, sample.Pair.MaskPath)).Append('\t')
                .Append(new FileInfo(sample.Pair.ImagePath).Length).Append('\t')
                .Append(new FileInfo(sample.Pair.MaskPath).Length).Append('\t')
                .Append(sample.Split).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var sample in Samples)
        {
            sample.Dispose();
        }
    }
}
