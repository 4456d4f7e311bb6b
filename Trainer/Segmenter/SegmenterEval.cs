using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;

namespace Inspection.Trainer.Segmenter;

/// <summary>What <c>trainer eval</c> reports for a segmenter package.</summary>
/// <param name="Version">Package version.</param>
/// <param name="Split">Which images: <c>all</c>, or a split reproduced from the manifest.</param>
/// <param name="Metrics">Metrics at the manifest's threshold.</param>
/// <param name="Inference">ONNX Runtime time per image: the session run only, one image at a time, after a warm-up run.</param>
/// <param name="Threads">ONNX Runtime intra-op threads (0: its default, one per physical core).</param>
/// <param name="Input">The package's input spec (the size the times are for).</param>
internal sealed record SegmenterEvalReport(string Version, string Split, SegmentationMetrics Metrics, LatencySummary Inference, int Threads, InputSpec Input)
{
    /// <summary>Flat name → value form for <c>--json</c>: threshold, iou, dice, pixel_precision, pixel_recall, ….</summary>
    public Dictionary<string, object> ToJson()
    {
        var json = Metrics.ToDictionary().ToDictionary(kv => kv.Key, kv => (object)kv.Value);
        json["version"] = Version;
        json["split"] = Split;
        json["ms_per_image"] = Inference.MeanMs;
        json["ms_per_image_p50"] = Inference.P50Ms;
        json["ms_per_image_p95"] = Inference.P95Ms;
        json["threads"] = Threads;
        json["input_width"] = Input.Width;
        json["input_height"] = Input.Height;
        return json;
    }

    /// <summary>Human-readable summary.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Version} on {Metrics.Images} images ({Split}) at pixel threshold {Metrics.Threshold:F3}:\n" +
        $"  IoU {Metrics.Iou:F4}  Dice {Metrics.Dice:F4}  pixel precision {Metrics.PixelPrecision:P2}  pixel recall {Metrics.PixelRecall:P2}\n" +
        $"  per image: mean IoU {Metrics.MeanImageIou:F4}  mean Dice {Metrics.MeanImageDice:F4}\n" +
        $"  ONNX Runtime per {Input.Width}x{Input.Height} image ({(Threads == 0 ? "default" : Threads.ToString(CultureInfo.InvariantCulture))} intra-op threads): {Inference}");
}

/// <summary><c>trainer eval</c> for segmenter packages: the package's ONNX graph on a dataset, at its own threshold.</summary>
internal static class SegmenterEval
{
    /// <summary>
    /// Loads <paramref name="data"/> at the package's input size and channels, with the mask threshold it was trained
    /// with (unless given), optionally reproduces one split of training (the manifest's seed and fractions), and measures.
    /// </summary>
    public static SegmenterEvalReport Run(ModelPackage package, string data, string split, double? maskThreshold, int limit = 0, int threads = 0)
    {
        var manifest = package.Manifest;
        if (manifest.Task != ModelTasks.Segmenter)
        {
            throw new ModelPackageException($"{package.Directory}: is a {manifest.Task} package, not a segmenter");
        }

        if (split is not ("all" or Splits.Train or Splits.Validation or Splits.Test))
        {
            throw new ArgumentException($"--split must be all, train, validation or test (got '{split}')");
        }

        var options = RecordedSplit.SegmentationOptions(manifest, maskThreshold, limit);
        using var dataset = SegmentationDataset.Load(data, options, w => Console.Error.WriteLine($"warning: {w}"));
        var samples = split == "all" ? dataset.Samples : dataset.In(split);
        if (samples.Count == 0)
        {
            throw new ArgumentException($"{data}: no images in split '{split}'");
        }

        var runTimes = new List<double>(samples.Count);
        var predictions = SegmenterEvaluation.PredictOnnx(package, samples, threads, runTimes);
        return new SegmenterEvalReport(manifest.Version, split, predictions.MetricsAt(manifest.Threshold.Value), LatencySummary.From(runTimes), threads, manifest.Input);
    }
}
