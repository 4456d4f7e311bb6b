using System.Text.Json;
using Inspection.Trainer.Metrics;
using OpenCvSharp;

namespace Inspection.Trainer.Segmenter;

/// <summary>
/// The human side of a segmenter run, written next to the package: training curves, the validation threshold curve,
/// a PNG grid of the best and worst validation images (input, ground truth, prediction) and <c>metrics.json</c>.
/// </summary>
internal static class SegmenterReport
{
    /// <summary>Images per group (best, worst) in the grid.</summary>
    public const int GridRows = 4;

    /// <summary>Writes the curves and the grid into <paramref name="directory"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Write(string directory, SegmenterTraining training, IReadOnlyList<PixelThresholdPoint> thresholdCurve,
        SegmentationPredictions validation, double threshold, object metrics)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>
        {
            Curves(Path.Combine(directory, "curves.png"), training),
            ThresholdCurve(Path.Combine(directory, "threshold.png"), thresholdCurve, threshold),
            Grid(Path.Combine(directory, "examples.png"), validation, threshold),
        };
        var json = Path.Combine(directory, "metrics.json");
        File.WriteAllText(json, JsonSerializer.Serialize(metrics, JsonOptions));
        files.Add(json);
        return files;
    }

    /// <summary>snake_case, indented: the form of metrics.json and <c>trainer eval --json</c>.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static string Curves(string path, SegmenterTraining training)
    {
        var epochs = training.History.Select(h => (double)h.Epoch).ToArray();
        using var plot = new ScottPlot.Plot();
        var trainLoss = plot.Add.Scatter(epochs, training.History.Select(h => h.TrainLoss).ToArray());
        trainLoss.LegendText = "training loss";
        var validationLoss = plot.Add.Scatter(epochs, training.History.Select(h => h.ValidationLoss).ToArray());
        validationLoss.LegendText = "validation loss";
        var iou = plot.Add.Scatter(epochs, training.History.Select(h => h.ValidationMetrics["IoU"]).ToArray());
        iou.LegendText = "validation IoU @ 0.5";
        var best = plot.Add.VerticalLine(training.BestEpoch);
        best.LegendText = training.Averaged is { } averaged ? $"best: epoch {training.BestEpoch}; kept: {averaged}" : $"kept: epoch {training.BestEpoch}";
        plot.Title("Segmenter training");
        plot.XLabel("epoch");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
        return path;
    }

    private static string ThresholdCurve(string path, IReadOnlyList<PixelThresholdPoint> curve, double chosen)
    {
        var xs = curve.Select(p => p.Threshold).ToArray();
        using var plot = new ScottPlot.Plot();
        foreach (var (name, value) in new (string, Func<PixelCounts, double>)[] { ("IoU", c => c.Iou), ("pixel precision", c => c.Precision), ("pixel recall", c => c.Recall) })
        {
            var line = plot.Add.Scatter(xs, curve.Select(p => value(p.Counts)).ToArray());
            line.MarkerSize = 0;
            line.LegendText = name;
        }

        var marker = plot.Add.VerticalLine(chosen);
        marker.LegendText = FormattableString.Invariant($"chosen threshold {chosen:F3}");
        plot.Title("Validation pixels by threshold");
        plot.XLabel("probability threshold");
        plot.ShowLegend();
        plot.SavePng(path, 900, 500);
        return path;
    }

    // Rows: the best and the worst validation images by IoU (among images with a defect when there are enough).
    // Columns: input, ground truth in green, prediction in red.
    private static string Grid(string path, SegmentationPredictions validation, double threshold)
    {
        var counts = validation.CountsAt(threshold);
        var indices = Enumerable.Range(0, counts.Count).Where(i => counts[i].Positives > 0).ToList();
        if (indices.Count < 2 * GridRows)
        {
            indices = Enumerable.Range(0, counts.Count).ToList();
        }

        var ranked = indices.OrderByDescending(i => counts[i].Iou).ToList();
        var rows = ranked.Take(GridRows).Select(i => (i, "best"))
            .Concat(ranked.AsEnumerable().Reverse().Take(Math.Min(GridRows, Math.Max(0, ranked.Count - GridRows))).Select(i => (i, "worst")))
            .ToList();

        const int tile = 192;
        const int label = 22;
        using var canvas = new Mat((rows.Count * (tile + label)) + label, 3 * tile, MatType.CV_8UC3, Scalar.All(255));
        string[] headers = ["input", "ground truth", "prediction"];
        for (var c = 0; c < 3; c++)
        {
            Cv2.PutText(canvas, headers[c], new Point((c * tile) + 6, 16), HersheyFonts.HersheySimplex, 0.5, Scalar.All(0), 1, LineTypes.AntiAlias);
        }

        for (var r = 0; r < rows.Count; r++)
        {
            var (index, group) = rows[r];
            var sample = validation.Samples[index];
            var top = label + (r * (tile + label));
            Cv2.PutText(canvas, FormattableString.Invariant($"{group}: {Shorten(sample.Id)}  IoU {counts[index].Iou:F3}"),
                new Point(6, top + 16), HersheyFonts.HersheySimplex, 0.45, Scalar.All(0), 1, LineTypes.AntiAlias);
            using var colour = new Mat();
            if (sample.Image.Channels() == 1)
            {
                Cv2.CvtColor(sample.Image, colour, ColorConversionCodes.GRAY2BGR);
            }
            else
            {
                sample.Image.CopyTo(colour);
            }

            using var predicted = new Mat(sample.Mask.Rows, sample.Mask.Cols, MatType.CV_8UC1);
            predicted.SetArray(validation.Probabilities[index].Select(p => p >= threshold ? (byte)1 : (byte)0).ToArray());
            using var truthOverlay = Overlay(colour, sample.Mask, new Scalar(0, 200, 0));
            using var predictionOverlay = Overlay(colour, predicted, new Scalar(0, 0, 230));
            Mat[] tiles = [colour, truthOverlay, predictionOverlay];
            for (var c = 0; c < 3; c++)
            {
                using var roi = new Mat(canvas, new Rect(c * tile, top + label, tile, tile));
                Cv2.Resize(tiles[c], roi, new Size(tile, tile), 0, 0, InterpolationFlags.Nearest);
            }
        }

        Cv2.ImWrite(path, canvas);
        return path;
    }

    private static Mat Overlay(Mat image, Mat mask, Scalar colour)
    {
        var result = image.Clone();
        using var paint = new Mat(image.Size(), MatType.CV_8UC3, colour);
        using var blended = new Mat();
        Cv2.AddWeighted(image, 0.45, paint, 0.55, 0, blended);
        blended.CopyTo(result, mask);
        return result;
    }

    private static string Shorten(string id) => id.Length <= 28 ? id : "..." + id[^25..];
}
