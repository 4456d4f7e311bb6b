using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Segmenter;

/// <summary>Measures the deployed segmenter against a candidate on the candidate's test pairs that the deployed model
/// did not train or validate on, each with its own ONNX file and threshold through Inspection.Inference.</summary>
internal static class SegmenterComparison
{
    /// <summary>The comparison; null (with <paramref name="note"/> saying why) when there is none to make.</summary>
    public static SegmenterGateComparison? Measure(string modelsDirectory, IReadOnlyList<SegmentationSample> samples, ModelPackage candidate, double candidateThreshold,
        ITrainingProgress progress, out string note)
    {
        note = "no deployed segmenter to compare with";
        if (ModelPackage.ResolveCurrent(modelsDirectory, ModelTasks.Segmenter) is null)
        {
            return null;
        }

        var deployed = ModelPackage.OpenCurrent(modelsDirectory, ModelTasks.Segmenter);
        var (d, c) = (deployed.Manifest.Input, candidate.Manifest.Input);
        if (d.Width != c.Width || d.Height != c.Height || d.Channels != c.Channels)
        {
            note = FormattableString.Invariant($"deployed {deployed.Manifest.Version} takes {d.Width}x{d.Height}x{d.Channels} input, the candidate {c.Width}x{c.Height}x{c.Channels}: not compared on the same masks");
            progress.Message(note);
            return null;
        }

        var seen = DeployedComparison.SeenInTraining(deployed.Directory);
        var shared = samples.Where(s => seen is null || !seen.Contains(s.Id)).ToList();
        var deployedMetrics = SegmenterEvaluation.PredictOnnx(deployed, shared).MetricsAt(deployed.Manifest.Threshold.Value);
        var candidateMetrics = SegmenterEvaluation.PredictOnnx(candidate, shared).MetricsAt(candidateThreshold);
        progress.Message(FormattableString.Invariant(
            $"deployed segmenter {deployed.Manifest.Version} on {shared.Count} test images it did not train on: IoU {deployedMetrics.Iou:F4} Dice {deployedMetrics.Dice:F4}; candidate there: IoU {candidateMetrics.Iou:F4} Dice {candidateMetrics.Dice:F4}"));
        return new SegmenterGateComparison(deployed.Manifest.Version, deployedMetrics, candidateMetrics, samples.Count - shared.Count, seen is not null);
    }
}
