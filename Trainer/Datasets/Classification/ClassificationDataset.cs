using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Inspection.Camera.Preprocessing;
using Inspection.Inference.Preprocessing;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Segmentation;
using OpenCvSharp;

namespace Inspection.Trainer.Datasets.Classification;

/// <summary>One labelled image file and the split it is in.</summary>
/// <param name="Path">Absolute path.</param>
/// <param name="Id">Path relative to the dataset root.</param>
/// <param name="Defect">True for the positive (defective) class.</param>
/// <param name="Split"><see cref="Splits.Train"/>, <see cref="Splits.Validation"/> or <see cref="Splits.Test"/>.</param>
/// <param name="Probability">A labels file's defect probability (ELPV: 0, 1/3, 2/3 or 1); null for folder-per-class data.</param>
internal sealed record LabelledImage(string Path, string Id, bool Defect, string Split, double? Probability = null)
{
    /// <summary>What the loss compares the network's probability with: 0 or 1, or with <paramref name="soft"/> the labels file's probability.</summary>
    public float Target(bool soft) => soft && Probability is { } p ? (float)p : Defect ? 1 : 0;
}

/// <summary>How a classification dataset is read and split.</summary>
internal sealed record ClassificationDataOptions
{
    /// <summary>Labels-file probabilities at or above this are defective.</summary>
    public double DefectCutoff { get; init; } = 0.5;

    /// <summary>Folder name of the defective class in the folder-per-class layout.</summary>
    public string DefectClass { get; init; } = "defect";

    /// <summary>Folder name of the good class in the folder-per-class layout.</summary>
    public string GoodClass { get; init; } = "good";

    /// <summary>Seed of the split.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Fraction of each class held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.15;

    /// <summary>Fraction of each class held out for the final test.</summary>
    public double TestFraction { get; init; } = 0.15;

    /// <summary>Use at most this many images of each class (0 = all), picked evenly; for quick runs.</summary>
    public int LimitPerClass { get; init; }
}

/// <summary>
/// A binary classification dataset: a folder per class (<c>good/</c>, <c>defect/</c>) or a labels file
/// (<c>path probability [type]</c> per line, like ELPV's <c>labels.csv</c>), split by a stable hash of each image's
/// relative path (<see cref="StableSplit"/>). Images are decoded and turned into tensors only through Inspection.Inference's
/// <see cref="Preprocessor"/>.
/// </summary>
internal sealed class ClassificationDataset
{
    private ClassificationDataset(string root, string source, IReadOnlyList<LabelledImage> images, ClassificationDataOptions options)
    {
        Root = root;
        Source = source;
        Images = images;
        Options = options;
        Fingerprint = FingerprintOf(images);
    }

    /// <summary>Dataset folder (the labels file's folder for a labels file).</summary>
    public string Root { get; }

    /// <summary>What was read: the labels file or the folder.</summary>
    public string Source { get; }

    /// <summary>Every image, in id order.</summary>
    public IReadOnlyList<LabelledImage> Images { get; }

    /// <summary>Options it was read with.</summary>
    public ClassificationDataOptions Options { get; }

    /// <summary>SHA-256 over ids, labels, file sizes and splits.</summary>
    public string Fingerprint { get; }

    /// <summary>Images moved to give a tiny split its first image of a class (see <see cref="StableSplit.Assign"/>).</summary>
    public int ForcedSplitMoves { get; private init; }

    /// <summary>Images an operator labelled in the daemon's review queue (named <c>review-*</c>), per split.</summary>
    public IReadOnlyDictionary<string, int> Reviewed() =>
        Images.Where(i => System.IO.Path.GetFileName(i.Path).StartsWith(Inspection.Config.Options.ReviewOptions.DatasetPrefix, StringComparison.Ordinal))
            .GroupBy(i => i.Split).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Images of one split (<c>all</c> for every image).</summary>
    public IReadOnlyList<LabelledImage> In(string split) => split == "all" ? Images : Images.Where(i => i.Split == split).ToList();

    /// <summary>Split seed, fractions and sizes, for the manifest.</summary>
    public Dictionary<string, double> SplitSummary()
    {
        var summary = new Dictionary<string, double>
        {
            ["seed"] = Options.Seed,
            ["validation_fraction"] = Options.ValidationFraction,
            ["test_fraction"] = Options.TestFraction,
            ["defect_cutoff"] = Options.DefectCutoff,
            [StableSplit.MethodKey] = 1,
            ["forced_moves"] = ForcedSplitMoves,
        };
        foreach (var split in new[] { Splits.Train, Splits.Validation, Splits.Test })
        {
            var images = In(split);
            summary[split] = images.Count;
            summary[$"{split}_defect"] = images.Count(i => i.Defect);
        }

        return summary;
    }

    /// <summary>Class balance per split, one line each, e.g. <c>train: 1262 images, 574 defect (45.5%), 688 good</c>.</summary>
    public IEnumerable<string> BalanceLines()
    {
        foreach (var split in new[] { Splits.Train, Splits.Validation, Splits.Test })
        {
            var images = In(split);
            var defects = images.Count(i => i.Defect);
            yield return string.Create(CultureInfo.InvariantCulture,
                $"{split,-10} {images.Count,6} images  {defects,6} defect ({(images.Count == 0 ? 0 : 100.0 * defects / images.Count),5:F1}%)  {images.Count - defects,6} good");
        }
    }

    /// <summary>Writes <c>id,label,split</c> per image: the recorded split.</summary>
    public void WriteSplitFile(string path) => File.WriteAllText(path, SplitCsv());

    /// <summary><c>id,defect,split</c> per image, as written to the run's and the package's <c>split.csv</c>.</summary>
    public string SplitCsv() =>
        string.Join('\n', Images.Select(i => $"{i.Id},{(i.Defect ? 1 : 0)},{i.Split}").Prepend("id,defect,split")) + "\n";

    /// <summary>Reads a folder per class or a labels file; errors name the missing or bad item.</summary>
    public static ClassificationDataset Load(string data, ClassificationDataOptions options)
    {
        if (options.DefectCutoff is <= 0 or > 1)
        {
            throw new DatasetException($"--defect-cutoff must be in (0, 1] (got {options.DefectCutoff})");
        }

        if (options.ValidationFraction <= 0 || options.TestFraction <= 0 || options.ValidationFraction + options.TestFraction >= 1)
        {
            throw new DatasetException($"validation and test fractions must be > 0 and sum to < 1 (got {options.ValidationFraction} and {options.TestFraction})");
        }

        var full = System.IO.Path.GetFullPath(data);
        List<(string Path, bool Defect, double? Probability)> items;
        string root;
        if (File.Exists(full))
        {
            root = System.IO.Path.GetDirectoryName(full)!;
            items = ReadLabelsFile(full, root, options.DefectCutoff);
        }
        else if (Directory.Exists(full))
        {
            root = full;
            var labels = Directory.EnumerateFiles(full, "labels.csv").FirstOrDefault();
            items = labels is not null && !Directory.Exists(System.IO.Path.Combine(full, options.DefectClass))
                ? ReadLabelsFile(labels, root, options.DefectCutoff)
                : ReadClassFolders(full, options);
        }
        else
        {
            throw new DatasetException($"{full}: classification data not found (give a folder with {options.GoodClass}/ and {options.DefectClass}/, or a labels file)");
        }

        if (items.Count == 0)
        {
            throw new DatasetException($"{full}: dataset is empty (no images)");
        }

        var defects = items.Count(i => i.Defect);
        if (defects == 0 || defects == items.Count)
        {
            throw new DatasetException($"{full}: all {items.Count} images are {(defects == 0 ? "good" : "defective")}; training needs both classes");
        }

        items = Limit(items, options.LimitPerClass);
        var splits = Split(items, root, options, out var forced);
        var images = items.Select((item, i) => new LabelledImage(item.Path, System.IO.Path.GetRelativePath(root, item.Path), item.Defect, splits[i], item.Probability))
            .OrderBy(i => i.Id, StringComparer.Ordinal)
            .ToList();
        foreach (var split in new[] { Splits.Train, Splits.Validation, Splits.Test })
        {
            if (!images.Any(i => i.Split == split && i.Defect) || !images.Any(i => i.Split == split && !i.Defect))
            {
                throw new DatasetException($"{full}: too few images to give the {split} split both classes ({defects} defective, {items.Count - defects} good)");
            }
        }

        return new ClassificationDataset(root, full, images, options) { ForcedSplitMoves = forced };
    }

    private static List<(string, bool, double?)> ReadLabelsFile(string file, string root, double cutoff)
    {
        var items = new List<(string, bool, double?)>();
        var missing = new List<string>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(file))
        {
            lineNumber++;
            var fields = line.Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0 || fields[0].StartsWith('#'))
            {
                continue;
            }

            if (fields.Length < 2 || !double.TryParse(fields[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var probability))
            {
                if (lineNumber == 1 && fields.Length >= 2)
                {
                    continue; // a header line
                }

                throw new DatasetException($"{file}:{lineNumber}: expected 'path probability [type]', got '{line.Trim()}'");
            }

            var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(root, fields[0]));
            if (!File.Exists(path))
            {
                missing.Add(fields[0]);
                continue;
            }

            items.Add((path, probability >= cutoff, probability));
        }

        if (missing.Count > 0)
        {
            throw new DatasetException($"{file}: {missing.Count} listed image(s) do not exist: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", …" : "")}");
        }

        return items;
    }

    private static List<(string, bool, double?)> ReadClassFolders(string root, ClassificationDataOptions options)
    {
        var good = System.IO.Path.Combine(root, options.GoodClass);
        var defect = System.IO.Path.Combine(root, options.DefectClass);
        foreach (var folder in new[] { good, defect })
        {
            if (!Directory.Exists(folder))
            {
                throw new DatasetException($"{folder}: class folder missing (a folder-per-class dataset needs {options.GoodClass}/ and {options.DefectClass}/)");
            }
        }

        return ImagesUnder(good).Select(p => (p, false, (double?)null)).Concat(ImagesUnder(defect).Select(p => (p, true, (double?)null))).ToList();
    }

    private static IEnumerable<string> ImagesUnder(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(ImageFiles.IsImage).Order(StringComparer.Ordinal);

    private static List<(string Path, bool Defect, double? Probability)> Limit(List<(string Path, bool Defect, double? Probability)> items, int perClass)
    {
        if (perClass <= 0)
        {
            return items;
        }

        return items.GroupBy(i => i.Defect).SelectMany(g =>
        {
            var list = g.OrderBy(i => i.Path, StringComparer.Ordinal).ToList();
            var take = Math.Min(perClass, list.Count);
            return Enumerable.Range(0, take).Select(i => list[(int)((long)i * list.Count / take)]);
        }).ToList();
    }

    // By a stable hash of each image's relative path (StableSplit), so images keep their split as the dataset grows.
    private static string[] Split(List<(string Path, bool Defect, double? Probability)> items, string root, ClassificationDataOptions options, out int forced) =>
        StableSplit.Assign(items.Select(i => System.IO.Path.GetRelativePath(root, i.Path)).ToList(), items.Select(i => i.Defect).ToList(),
            options.Seed, options.ValidationFraction, options.TestFraction, out forced);

    private static string FingerprintOf(IReadOnlyList<LabelledImage> images)
    {
        var text = new StringBuilder();
        foreach (var image in images)
        {
            text.Append(image.Id).Append('\t').Append(image.Defect ? 1 : 0).Append('\t')
                .Append(new FileInfo(image.Path).Length).Append('\t').Append(image.Split).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>1 when every image file is single-channel, else 3 (decodes the headers of all images).</summary>
    public int DetectChannels()
    {
        foreach (var image in Images)
        {
            using var mat = Read(image.Path);
            if (mat.Channels() != 1)
            {
                return 3;
            }
        }

        return 1;
    }

    /// <summary>Decodes an image; an unreadable one is a <see cref="DatasetException"/> naming it.</summary>
    public static Mat Read(string path)
    {
        try
        {
            return ImageFiles.Read(path);
        }
        catch (ImageReadException ex)
        {
            throw new DatasetException(ex.Message);
        }
    }
}

/// <summary>
/// A split's images as preprocessed tensors (one float array per image, CHW, exactly as the daemon's preprocessor
/// makes them) and labels. Decoding happens once; augmentation works on these tensors.
/// </summary>
internal sealed class TensorSet
{
    private TensorSet(IReadOnlyList<LabelledImage> images, float[][] tensors, InputSpec spec)
    {
        Images = images;
        Tensors = tensors;
        Spec = spec;
    }

    /// <summary>The images, in the same order as <see cref="Tensors"/>.</summary>
    public IReadOnlyList<LabelledImage> Images { get; }

    /// <summary>Preprocessed CHW floats per image.</summary>
    public float[][] Tensors { get; }

    /// <summary>Input spec the tensors follow.</summary>
    public InputSpec Spec { get; }

    /// <summary>Number of images.</summary>
    public int Count => Images.Count;

    /// <summary>Defective images.</summary>
    public int Defects => Images.Count(i => i.Defect);

    /// <summary>Decodes and preprocesses every image; all unreadable files are named in one error.</summary>
    public static TensorSet Build(IReadOnlyList<LabelledImage> images, InputSpec spec)
    {
        using var preprocessor = new Preprocessor(spec);
        var tensors = new float[images.Count][];
        var problems = new List<string>();
        for (var i = 0; i < images.Count; i++)
        {
            try
            {
                using var mat = ClassificationDataset.Read(images[i].Path);
                tensors[i] = new float[preprocessor.TensorLength];
                preprocessor.Run(mat, tensors[i]);
            }
            catch (Exception ex) when (ex is DatasetException or ArgumentException or OpenCVException)
            {
                problems.Add(ex.Message);
            }
        }

        if (problems.Count > 0)
        {
            throw new DatasetException($"{problems.Count} image(s) cannot be used:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", problems.Take(20))}");
        }

        return new TensorSet(images, tensors, spec);
    }
}
