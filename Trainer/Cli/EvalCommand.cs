using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Inspection.Config.Models;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Segmenter;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer eval</c>: a package's metrics on a dataset at the manifest's threshold (classifier or segmenter).</summary>
internal static class EvalCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Package folder, e.g. MODELS/segmenter/current (or a models folder: its classifier/current)", Required = true };
        var data = new Option<string>("--data") { Description = "Classifier: folder per class or labels file. Segmenter: image/mask pairs", Required = true };
        var maskThreshold = new Option<double?>("--mask-threshold") { Description = "Segmenter: mask values above this are foreground (default: the package's)" };
        var limit = new Option<int>("--limit") { Description = "Segmenter: at most N pairs per dataset split (0 = all)", DefaultValueFactory = _ => 0 };
        var split = new Option<string>("--split") { Description = "all, or train/validation/test to reproduce the trainer's split (the package's recorded seed and fractions)", DefaultValueFactory = _ => "all" };
        var explain = new Option<string?>("--explain") { Description = "Classifier: write heat-map overlays (the image with the class activation map over it) of the worst false negatives and false positives into this folder" };
        var cutoff = new Option<double?>("--defect-cutoff") { Description = "Labels file: probability at or above which an image is defective (default: the package's)" };
        var command = new Command("eval", "Score a dataset with a package in ONNX Runtime at the manifest's threshold. Classifier: recall, precision, specificity, F1, AUROC, AP and the confusion matrix. Segmenter: IoU, Dice, pixel precision and recall, ms per image");
        foreach (var option in new Option[] { model, data, split, cutoff, explain, maskThreshold, limit, CommonOptions.Json, CommonOptions.Threads })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
        {
            var package = PackageScorer.Open(parse.GetValue(model)!);
            if (package.Manifest.Task == ModelTasks.Segmenter)
            {
                var segmentation = SegmenterEval.Run(package, parse.GetValue(data)!, parse.GetValue(split)!, parse.GetValue(maskThreshold), parse.GetValue(limit), parse.GetValue(CommonOptions.Threads));
                Console.Out.WriteLine(parse.GetValue(CommonOptions.Json) ? JsonSerializer.Serialize(segmentation.ToJson()) : segmentation.ToString());
                return 0;
            }

            var options = RecordedSplit.ClassificationOptions(package.Manifest, parse.GetValue(cutoff));
            var which = parse.GetValue(split)!;
            if (which is not ("all" or "train" or "validation" or "test"))
            {
                throw new ArgumentException($"--split must be all, train, validation or test (got '{which}')");
            }

            var images = ClassificationDataset.Load(parse.GetValue(data)!, options).In(which);
            var scores = PackageScorer.Score(package, images, parse.GetValue(CommonOptions.Threads));
            var report = BinaryReport.From(scores, images.Select(i => i.Defect).ToList(), package.Manifest.Threshold.Value);
            var explained = parse.GetValue(explain) is { } folder ? ClassifierExplain.Write(package, images, scores, Path.GetFullPath(folder)) : null;
            if (parse.GetValue(CommonOptions.Json))
            {
                var json = JsonSerializer.SerializeToNode(report, JsonOptions)!.AsObject();
                if (explained is not null)
                {
                    json["explain"] = JsonSerializer.SerializeToNode(explained, JsonOptions);
                }

                Console.Out.WriteLine(json.ToJsonString(JsonOptions));
            }
            else
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{package.Manifest.Version} on {images.Count} images ({which}) at threshold {report.Threshold:F4}:\n" +
                    $"  recall {report.Recall:P2} (95% lower bound {report.RecallLowerBound:P2})  precision {report.Precision:P2}  specificity {report.Specificity:P2}  F1 {report.F1:F3}\n" +
                    $"  AUROC {report.Auroc:F4}  AP {report.Ap:F4}  accuracy {report.Accuracy:P2}\n" +
                    $"  tp {report.Tp}  fp {report.Fp}  tn {report.Tn}  fn {report.Fn}"));
                foreach (var e in explained ?? [])
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {e.Kind} p={e.Score:F3} {e.Image}: {e.Path}"));
                }
            }

            return 0;
        }));
        return command;
    }
}
