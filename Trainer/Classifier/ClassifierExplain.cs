using System.Globalization;
using Inspection.Config.Models;
using Inspection.Inference;
using Inspection.Inference.Postprocessing;
using Inspection.Inference.Preprocessing;
using Inspection.Trainer.Datasets.Classification;
using OpenCvSharp;

namespace Inspection.Trainer.Classifier;

/// <summary>One heat-map overlay written by <c>trainer eval --explain</c>.</summary>
/// <param name="Path">The overlay file.</param>
/// <param name="Image">The image it explains.</param>
/// <param name="Kind"><c>false-negative</c> (a defect scored below the threshold) or <c>false-positive</c> (a good image at or above it).</param>
/// <param name="Score">The package's defect probability for it.</param>
internal sealed record ExplainedImage(string Path, string Image, string Kind, double Score);

/// <summary>
/// <c>trainer eval --explain DIR</c>: for the worst false negatives (defects with the lowest scores) and the worst false
/// positives (good images with the highest), the image with the package's class activation map over it
/// (<see cref="HeatMap"/>), computed by ONNX Runtime from the package's own <c>cam</c> output, as the daemon does.
/// </summary>
internal static class ClassifierExplain
{
    /// <summary>Writes at most <paramref name="perKind"/> overlays of each kind into <paramref name="directory"/>, worst first.</summary>
    public static IReadOnlyList<ExplainedImage> Write(ModelPackage package, IReadOnlyList<LabelledImage> images, IReadOnlyList<double> scores, string directory, int perKind = 8)
    {
        using var model = OnnxModel.Load(package);
        if (model.CamShape is not { } camShape)
        {
            throw new ModelPackageException($"{package.Directory}: package {package.Manifest.Version} has no class activation map output (written before packages had one, or an architecture without it); retrain it to use --explain");
        }

        var threshold = package.Manifest.Threshold.Value;
        var indices = Enumerable.Range(0, images.Count).ToList();
        var falseNegatives = indices.Where(i => images[i].Defect && scores[i] < threshold).OrderBy(i => scores[i]).Take(perKind)
            .Select((i, rank) => (Index: i, Kind: "false-negative", Rank: rank + 1));
        var falsePositives = indices.Where(i => !images[i].Defect && scores[i] >= threshold).OrderByDescending(i => scores[i]).Take(perKind)
            .Select((i, rank) => (Index: i, Kind: "false-positive", Rank: rank + 1));
        Directory.CreateDirectory(directory);
        using var runner = new OnnxRunner(model);
        using var preprocessor = new Preprocessor(package.Manifest.Input);
        var written = new List<ExplainedImage>();
        foreach (var (index, name, rank) in falseNegatives.Concat(falsePositives))
        {
            using var image = ClassificationDataset.Read(images[index].Path);
            preprocessor.Run(image, runner.Input);
            runner.Run();
            using var overlay = HeatMap.Overlay(image, runner.Cam, (int)camShape[3], (int)camShape[2], package.Manifest.Input);
            var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture,
                $"{name}-{rank:D2}-p{scores[index]:F3}-{Sanitise(Path.GetFileNameWithoutExtension(images[index].Path))}.jpg"));
            Cv2.ImWrite(path, overlay, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            written.Add(new ExplainedImage(path, images[index].Path, name, scores[index]));
        }

        return written;
    }

    private static string Sanitise(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
