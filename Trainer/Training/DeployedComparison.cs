using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;

namespace Inspection.Trainer.Training;

/// <summary>
/// Measures the deployed classifier against a candidate on the candidate's test images that the deployed model did not
/// train or validate on (its package's <c>split.csv</c> says which), each at its own threshold, the deployed one with its
/// own ONNX file through Inspection.Inference.
/// </summary>
internal static class DeployedComparison
{
    /// <summary>The split record in a package: <c>id,defect,split</c> per image, ids relative to the dataset root.</summary>
    public const string SplitFile = "split.csv";

    /// <summary>The comparison, or null when no classifier is deployed.</summary>
    public static GateComparison? Measure(string modelsDirectory, TensorSet test, IReadOnlyList<double> candidateScores, double candidateThreshold, ITrainingProgress progress)
    {
        if (ModelPackage.ResolveCurrent(modelsDirectory, ModelTasks.Classifier) is null)
        {
            return null;
        }

        var deployed = ModelPackage.OpenCurrent(modelsDirectory, ModelTasks.Classifier);
        var seen = SeenInTraining(deployed.Directory);
        var shared = Enumerable.Range(0, test.Count).Where(i => seen is null || !seen.Contains(test.Images[i].Id)).ToList();
        var images = shared.Select(i => test.Images[i]).ToList();
        var labels = images.Select(i => i.Defect).ToList();
        var deployedReport = BinaryReport.From(PackageScorer.Score(deployed, images), labels, deployed.Manifest.Threshold.Value);
        var candidateReport = BinaryReport.From(shared.Select(i => candidateScores[i]).ToList(), labels, candidateThreshold);
        var excluded = test.Count - shared.Count;
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"deployed model {deployed.Manifest.Version} on {images.Count} test images it did not train on ({(seen is null ? "its package records no split" : $"{excluded} excluded")}), at its threshold {deployed.Manifest.Threshold.Value:F4}: recall {deployedReport.Recall:P2}, specificity {deployedReport.Specificity:P2}; candidate there: recall {candidateReport.Recall:P2}, specificity {candidateReport.Specificity:P2}"));
        return new GateComparison(deployed.Manifest.Version, deployedReport, candidateReport, excluded, seen is not null);
    }

    /// <summary>Ids a package trained or validated on, from its <see cref="SplitFile"/>; null when it has none.</summary>
    public static HashSet<string>? SeenInTraining(string packageDirectory)
    {
        var path = Path.Combine(packageDirectory, SplitFile);
        if (!File.Exists(path))
        {
            return null;
        }

        return File.ReadLines(path).Skip(1)
            .Select(line => line.Split(','))
            .Where(f => f.Length >= 3 && f[^1] != Splits.Test)
            .Select(f => string.Join(',', f[..^2]))
            .ToHashSet(StringComparer.Ordinal);
    }
}
