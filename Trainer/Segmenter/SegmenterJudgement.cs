using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Segmenter;

/// <summary>
/// A staged segmenter package judged on its own ONNX Runtime pixel probabilities (through Inspection.Inference, as the
/// daemon runs it): the pixel threshold chosen on validation (best IoU, or the pixel recall target), the test split
/// measured at it, the deployed model compared, and the gate's verdict. One implementation for <c>trainer segment</c>
/// and <c>trainer quantize</c>.
/// </summary>
internal sealed record SegmenterJudgement(
    SegmentationPredictions ValidationPredictions, ThresholdSpec Threshold, PixelThresholdPoint BestIou, PixelThresholdPoint? ForRecall, double? RecallTarget,
    SegmentationMetrics Validation, SegmentationMetrics? Test, SegmenterGateComparison? Comparison, GateDecision Gate)
{
    /// <summary>Scores <paramref name="package"/>, chooses its pixel threshold, applies the gate and prints every figure.</summary>
    public static SegmenterJudgement Judge(ModelPackage package, IReadOnlyList<SegmentationSample> validationSamples, IReadOnlyList<SegmentationSample> testSamples,
        double? recallTarget, SegmenterGatePolicy policy, string modelsDirectory, bool force, ITrainingProgress progress)
    {
        var validation = SegmenterEvaluation.PredictOnnx(package, validationSamples);
        var thresholds = validation.Thresholds();
        var bestIou = thresholds.BestIou();
        var forRecall = recallTarget is { } target ? thresholds.ForRecall(target) : null;
        var threshold = Choose(recallTarget, bestIou, forRecall, thresholds, progress);
        var validationMetrics = validation.MetricsAt(threshold.Value);
        var test = testSamples.Count == 0 ? null : SegmenterEvaluation.PredictOnnx(package, testSamples).MetricsAt(threshold.Value);

        var judged = test ?? validationMetrics;
        var comparison = SegmenterComparison.Measure(modelsDirectory, testSamples.Count == 0 ? validationSamples : testSamples, package, threshold.Value, progress, out var comparisonNote);
        var gate = SegmenterGate.Decide(judged, policy, comparison, comparisonNote);
        progress.Message($"gate policy ({(test is null ? "validation split: the dataset has no test split" : "test split")}): {policy}");
        foreach (var check in gate.Checks)
        {
            progress.Message($"  {check}");
        }

        progress.Message($"gate: {(gate.Pass ? "PASS" : "FAIL")}: {gate.Reason}{(!gate.Pass && force ? " (--force: made current anyway)" : "")}");
        return new SegmenterJudgement(validation, threshold, bestIou, forRecall, recallTarget, validationMetrics, test, comparison, gate);
    }

    /// <summary>The manifest's metrics: validation, thresholds, test, and the deployed comparison.</summary>
    public Dictionary<string, Dictionary<string, double>> Metrics()
    {
        var metrics = new Dictionary<string, Dictionary<string, double>>
        {
            ["validation"] = Validation.ToDictionary(),
            ["thresholds"] = ThresholdSummaryOf(BestIou, ForRecall, RecallTarget),
        };
        if (Test is not null)
        {
            metrics["test"] = Test.ToDictionary();
        }

        if (Comparison is not null)
        {
            metrics["deployed_on_shared_test"] = Comparison.Deployed.ToDictionary();
            metrics["candidate_on_shared_test"] = Comparison.Candidate.ToDictionary();
        }

        return metrics;
    }

    private static ThresholdSpec Choose(double? recallTarget, PixelThresholdPoint bestIou, PixelThresholdPoint? forRecall, PixelThresholds thresholds, ITrainingProgress progress)
    {
        var point = bestIou;
        var method = "best-iou";
        if (recallTarget is { } target)
        {
            if (forRecall is null)
            {
                // Even the lowest threshold misses the target: say so and use the lowest, the closest one can get.
                point = thresholds.Curve()[0];
                method = "recall-target-unreached";
                progress.Message(FormattableString.Invariant(
                    $"warning: pixel recall {target} is not reached on validation at any threshold (best {point.Counts.Recall:F4} at {point.Threshold:F3})"));
            }
            else
            {
                point = forRecall;
                method = "recall-target";
            }
        }

        return new ThresholdSpec
        {
            Value = point.Threshold,
            RecallTarget = recallTarget,
            Method = method,
            Recall = point.Counts.Recall,
            Precision = point.Counts.Precision,
            RecallLowerBound = ClopperPearson.Lower(point.Counts.TruePositive, point.Counts.Positives, 0.95),
            Confidence = 0.95,
            Positives = point.Counts.Positives,
        };
    }

    private static Dictionary<string, double> ThresholdSummaryOf(PixelThresholdPoint bestIou, PixelThresholdPoint? forRecall, double? recallTarget)
    {
        var summary = new Dictionary<string, double>
        {
            ["best_iou_threshold"] = bestIou.Threshold,
            ["best_iou_iou"] = bestIou.Counts.Iou,
            ["best_iou_pixel_recall"] = bestIou.Counts.Recall,
            ["best_iou_pixel_precision"] = bestIou.Counts.Precision,
        };
        if (recallTarget is { } target)
        {
            summary["recall_target"] = target;
        }

        if (forRecall is not null)
        {
            summary["recall_target_threshold"] = forRecall.Threshold;
            summary["recall_target_iou"] = forRecall.Counts.Iou;
            summary["recall_target_pixel_recall"] = forRecall.Counts.Recall;
            summary["recall_target_pixel_precision"] = forRecall.Counts.Precision;
        }

        return summary;
    }
}
