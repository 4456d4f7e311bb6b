using System.Globalization;
using System.Text;
using System.Text.Json;
using Inspection.Config.Models;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Training;
using OpenCvSharp;
using ScottPlot;

namespace Inspection.Trainer.Reports;

/// <summary>What a classifier run's report shows.</summary>
internal sealed record RunReportData(
    ClassifyRequest Request, ClassificationDataset Dataset, InputSpec Spec, IReadOnlyList<EpochRecord> History, int BestEpoch, EpochAverage? Averaged, double PosWeight,
    ThresholdChoice Choice, double[] ValidationScores, IReadOnlyList<bool> ValidationLabels, double[] TestScores, IReadOnlyList<bool> TestLabels,
    BinaryReport Validation, BinaryReport Test, BinaryReport TestAtBestF1, double BestF1Threshold, BinaryReport? Replaced, string? ReplacedVersion,
    GateDecision Gate, bool MadeCurrent, WrittenPackage Package, IReadOnlyList<LabelledImage> TestImages, TimeSpan Wall, double ImagesPerSecond);

/// <summary>
/// Writes a run's <c>report.md</c>, <c>metrics.json</c>, <c>history.csv</c> and plots (ScottPlot): loss curves,
/// validation metric curves, the precision–recall curve with the chosen point, confusion matrices at the chosen
/// threshold, and a grid of the test split's worst-scored defects (false negatives first).
/// </summary>
internal static class RunReport
{
    private static readonly JsonSerializerOptions MetricsJson = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes every file into <paramref name="dir"/>.</summary>
    public static void Write(string dir, RunReportData d)
    {
        WriteHistory(Path.Combine(dir, "history.csv"), d.History);
        WriteMetrics(Path.Combine(dir, "metrics.json"), d);
        Curves(Path.Combine(dir, "loss.png"), "Loss (weighted BCE)", d.History, [("train", r => r.TrainLoss), ("validation", r => r.ValidationLoss)]);
        Curves(Path.Combine(dir, "metrics.png"), "Validation metrics", d.History,
            [("AP", r => r.ValidationMetrics["AP"]), ("AUROC", r => r.ValidationMetrics["AUROC"]), ("recall@0.5", r => r.ValidationRecall), ("precision@0.5", r => r.ValidationPrecision)]);
        PrecisionRecall(Path.Combine(dir, "pr-curve.png"), d);
        ConfusionMatrices(Path.Combine(dir, "confusion.png"), d.Validation, d.Test);
        var worst = WorstDefects(Path.Combine(dir, "worst-false-negatives.png"), d);
        File.WriteAllText(Path.Combine(dir, "report.md"), Markdown(d, worst));
    }

    private static void WriteHistory(string path, IReadOnlyList<EpochRecord> history)
    {
        var text = new StringBuilder("epoch,lr,train_loss,val_loss,val_recall_at_0.5,val_precision_at_0.5,val_auroc,val_ap,skipped_steps,seconds,images_per_second\n");
        foreach (var r in history)
        {
            text.AppendLine(string.Join(',', new object[] { r.Epoch, r.LearningRate, r.TrainLoss, r.ValidationLoss, r.ValidationRecall, r.ValidationPrecision, r.ValidationMetrics["AUROC"], r.ValidationMetrics["AP"], r.SkippedSteps, r.Seconds, r.ImagesPerSecond }
                .Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
        }

        File.WriteAllText(path, text.ToString());
    }

    private static void WriteMetrics(string path, RunReportData d)
    {
        var json = new Dictionary<string, object?>
        {
            ["package"] = d.Package.Package.Directory,
            ["version"] = d.Package.Package.Manifest.Version,
            ["made_current"] = d.MadeCurrent,
            ["gate"] = new { pass = d.Gate.Pass, reason = d.Gate.Reason },
            ["threshold"] = new
            {
                value = d.Choice.Threshold,
                recall_target = d.Choice.RecallTarget,
                validation_recall = d.Choice.Counts.Recall,
                validation_precision = d.Choice.Counts.Precision,
                validation_specificity = d.Choice.Counts.Specificity,
                validation_f1 = d.Choice.Counts.F1,
                recall_lower_bound = d.Choice.RecallLowerBound,
                confidence = d.Choice.Confidence,
                positives = d.Choice.Counts.Positives,
                more_positives_needed = d.Choice.MorePositivesNeeded,
                evidence = d.Choice.Evidence(),
            },
            ["validation"] = d.Validation.ToDictionary(),
            ["test"] = d.Test.ToDictionary(),
            ["test_at_best_f1"] = d.TestAtBestF1.ToDictionary(),
            ["replaced"] = d.Replaced?.ToDictionary(),
            ["replaced_version"] = d.ReplacedVersion,
            ["training"] = new
            {
                arch = d.Request.Arch,
                image_size = d.Request.ImageSize,
                width_multiplier = d.Request.WidthMultiplier,
                channels = d.Spec.Channels,
                epochs_run = d.History.Count,
                best_epoch = d.BestEpoch,
                kept = d.Averaged?.ToString() ?? $"epoch {d.BestEpoch}",
                pos_weight = d.PosWeight,
                images_per_second = d.ImagesPerSecond,
                wall_seconds = d.Wall.TotalSeconds,
                onnx_max_abs_difference = d.Package.Export.MaxAbsDifference,
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json, MetricsJson));
    }

    private static void Curves(string path, string title, IReadOnlyList<EpochRecord> history, (string Name, Func<EpochRecord, double> Value)[] series)
    {
        using var plot = new Plot();
        var epochs = history.Select(r => (double)r.Epoch).ToArray();
        foreach (var (name, value) in series)
        {
            var scatter = plot.Add.Scatter(epochs, history.Select(value).ToArray());
            scatter.LegendText = name;
        }

        plot.Title(title);
        plot.XLabel("epoch");
        plot.ShowLegend();
        plot.SavePng(path, 800, 450);
    }

    private static void PrecisionRecall(string path, RunReportData d)
    {
        using var plot = new Plot();
        foreach (var (name, scores, labels) in new[] { ("validation", d.ValidationScores, d.ValidationLabels), ("test", d.TestScores, d.TestLabels) })
        {
            var curve = Ranking.Curve(scores, labels);
            var line = plot.Add.Scatter(curve.Select(p => p.Counts.Recall).ToArray(), curve.Select(p => p.Counts.Precision).ToArray());
            line.LegendText = $"{name} (AP {Ranking.AveragePrecision(scores, labels):F3})";
            line.MarkerSize = 0;
        }

        var chosen = plot.Add.Marker(d.Choice.Counts.Recall, d.Choice.Counts.Precision, MarkerShape.FilledCircle, 12, Colors.Red);
        chosen.LegendText = string.Create(CultureInfo.InvariantCulture, $"chosen threshold {d.Choice.Threshold:F3} (validation)");
        var test = plot.Add.Marker(d.Test.Recall, d.Test.Precision, MarkerShape.OpenCircle, 12, Colors.Red);
        test.LegendText = "same threshold on test";
        var target = plot.Add.VerticalLine(d.Choice.RecallTarget);
        target.LegendText = "recall target";
        target.LinePattern = LinePattern.Dashed;
        plot.Title("Precision-recall");
        plot.XLabel("recall");
        plot.YLabel("precision");
        plot.Axes.SetLimits(0, 1.02, 0, 1.02);
        plot.ShowLegend(Alignment.LowerLeft);
        plot.SavePng(path, 700, 600);
    }

    private static void ConfusionMatrices(string path, BinaryReport validation, BinaryReport test)
    {
        using var plot = new Plot();
        var x = 0.0;
        foreach (var (name, r) in new[] { ("validation", validation), ("test", test) })
        {
            // rows: truth (defect, good); columns: predicted (defect, good)
            var cells = new[,] { { (double)r.Tp, r.Fn }, { r.Fp, r.Tn } };
            for (var row = 0; row < 2; row++)
            {
                for (var col = 0; col < 2; col++)
                {
                    var correct = row == col;
                    var box = plot.Add.Rectangle(x + col, x + col + 1, 1 - row, 2 - row);
                    box.FillColor = (correct ? Colors.SeaGreen : Colors.IndianRed).WithAlpha(0.25 + (0.6 * cells[row, col] / Math.Max(1, r.Images)));
                    var label = plot.Add.Text(((int)cells[row, col]).ToString(CultureInfo.InvariantCulture), x + col + 0.5, 1.5 - row);
                    label.LabelFontSize = 22;
                    label.LabelAlignment = Alignment.MiddleCenter;
                }
            }

            var title = plot.Add.Text($"{name}: rows truth (defect, good), columns predicted (defect, good)", x, 2.25);
            title.LabelFontSize = 11;
            x += 3;
        }

        plot.Axes.SetLimits(-0.2, 5.2, -0.2, 2.6);
        plot.HideGrid();
        plot.Axes.Frameless();
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"Confusion at threshold {test.Threshold:F4}"));
        plot.SavePng(path, 900, 420);
    }

    // Defects with the lowest scores in the test split, as the preprocessor sees them, labelled with their score.
    private static List<(string Id, double Score)> WorstDefects(string path, RunReportData d)
    {
        var worst = Enumerable.Range(0, d.TestImages.Count).Where(i => d.TestLabels[i]).OrderBy(i => d.TestScores[i]).Take(16).ToList();
        const int tile = 128;
        var columns = 4;
        var rows = Math.Max(1, (worst.Count + columns - 1) / columns);
        using var canvas = new Mat(rows * (tile + 20), columns * tile, MatType.CV_8UC3, Scalar.All(255));
        var spec = d.Spec with { Width = tile, Height = tile, Channels = 3, Colour = "rgb", Mean = [0, 0, 0], Std = [1, 1, 1] };
        using var preprocessor = new Inspection.Inference.Preprocessing.Preprocessor(spec);
        var buffer = new float[preprocessor.TensorLength];
        for (var k = 0; k < worst.Count; k++)
        {
            var i = worst[k];
            using (var image = ClassificationDataset.Read(d.TestImages[i].Path))
            {
                preprocessor.Run(image, buffer);
            }

            var (ox, oy) = (k % columns * tile, k / columns * (tile + 20));
            for (var y = 0; y < tile; y++)
            {
                for (var x = 0; x < tile; x++)
                {
                    // tensor is RGB planes; the canvas is BGR
                    canvas.Set(oy + y, ox + x, new Vec3b((byte)(buffer[(2 * tile * tile) + (y * tile) + x] * 255), (byte)(buffer[(tile * tile) + (y * tile) + x] * 255), (byte)(buffer[(y * tile) + x] * 255)));
                }
            }

            var missed = d.TestScores[i] < d.Test.Threshold;
            Cv2.PutText(canvas, string.Create(CultureInfo.InvariantCulture, $"{d.TestScores[i]:F3}{(missed ? " MISSED" : "")}"), new Point(ox + 4, oy + tile + 15),
                HersheyFonts.HersheySimplex, 0.45, missed ? new Scalar(0, 0, 200) : new Scalar(0, 120, 0), 1);
        }

        Cv2.ImWrite(path, canvas);
        return worst.Select(i => (d.TestImages[i].Id, d.TestScores[i])).ToList();
    }

    private static string Markdown(RunReportData d, List<(string Id, double Score)> worst)
    {
        string P(double v) => v.ToString("P2", CultureInfo.InvariantCulture);
        string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);
        var m = d.Package.Package.Manifest;
        var s = new StringBuilder();
        s.AppendLine($"# Classifier run {m.Version}").AppendLine();
        s.AppendLine($"- data: `{d.Dataset.Source}` (fingerprint `{d.Dataset.Fingerprint[..16]}…`), split seed {d.Request.DataOptions.Seed}, split recorded in `split.csv`");
        foreach (var line in d.Dataset.BalanceLines())
        {
            s.AppendLine($"  - `{line}`");
        }

        s.AppendLine($"- model: {d.Request.Arch}, width {F(d.Request.WidthMultiplier, "0.##")}, input {d.Spec.Width}x{d.Spec.Height}x{d.Spec.Channels}, init {(m.Training.InitFrom is null ? "scratch" : "package " + m.Training.InitFrom)}");
        s.AppendLine($"- training: {d.History.Count} epochs (best {d.BestEpoch}{(d.Averaged is { } a ? $"; kept: {a}" : "")}), {d.Request.Training.Optimizer}, lr {F(d.Request.Training.LearningRate, "G3")} {d.Request.Training.Schedule}, batch {d.Request.Training.BatchSize}, pos_weight {F(d.PosWeight, "F2")}, {F(d.ImagesPerSecond, "F1")} images/s, wall {d.Wall:hh\\:mm\\:ss}");
        s.AppendLine($"- augmentation: {string.Join(", ", m.Training.Augmentation.Select(kv => $"{kv.Key}={kv.Value}"))}").AppendLine();
        s.AppendLine("## Threshold (validation)").AppendLine().AppendLine(d.Choice.Evidence()).AppendLine();
        s.AppendLine("## Test split at that threshold").AppendLine();
        s.AppendLine("| | recall | precision | specificity | F1 | accuracy | AUROC | AP | tp | fp | tn | fn |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (name, r) in new[] { ("validation", d.Validation), ("test", d.Test), ($"test at F1-best threshold {F(d.BestF1Threshold)}", d.TestAtBestF1) })
        {
            s.AppendLine($"| {name} | {P(r.Recall)} | {P(r.Precision)} | {P(r.Specificity)} | {F(r.F1, "F3")} | {P(r.Accuracy)} | {F(r.Auroc)} | {F(r.Ap)} | {r.Tp} | {r.Fp} | {r.Tn} | {r.Fn} |");
        }

        s.AppendLine().AppendLine($"Test recall 95% bounds (Clopper-Pearson, one-sided): {P(d.Test.RecallLowerBound)} .. {P(d.Test.RecallUpperBound)}.").AppendLine();
        s.AppendLine("## Quality gate").AppendLine();
        s.AppendLine($"{(d.Gate.Pass ? "PASS" : "FAIL")}: {d.Gate.Reason}. Package `{d.Package.Package.Directory}` {(d.MadeCurrent ? "is now `current`" : "was kept beside the current one")}.");
        if (d.Replaced is not null)
        {
            s.AppendLine().AppendLine($"Replaced model {d.ReplacedVersion} on the same test images: recall {P(d.Replaced.Recall)}, precision {P(d.Replaced.Precision)}, specificity {P(d.Replaced.Specificity)}.");
        }

        s.AppendLine().AppendLine($"ONNX export: max |ONNX Runtime - TorchSharp| = {F(d.Package.Export.MaxAbsDifference, "E2")}.").AppendLine();
        s.AppendLine("## Plots").AppendLine();
        s.AppendLine("![loss](loss.png)").AppendLine("![metrics](metrics.png)").AppendLine("![precision-recall](pr-curve.png)").AppendLine("![confusion](confusion.png)");
        s.AppendLine("![worst defects](worst-false-negatives.png)").AppendLine();
        s.AppendLine("Lowest-scored test defects: " + string.Join(", ", worst.Select(w => $"`{w.Id}` {F(w.Score, "F3")}")));
        return s.ToString();
    }
}
