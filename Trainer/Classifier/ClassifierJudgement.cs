using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Classifier;

/// <summary>
/// A staged classifier package judged on its own ONNX Runtime scores (through Inspection.Inference, as the daemon runs
/// it): the threshold chosen on validation, the untouched test split measured at it, the deployed model compared, and
/// the quality gate's verdict. One implementation for <c>trainer classify</c> and <c>trainer quantize</c>.
/// </summary>
internal sealed record ClassifierJudgement(
    ThresholdChoice Choice, double Threshold, double[] ValidationScores, IReadOnlyList<bool> ValidationLabels, double[] TestScores, IReadOnlyList<bool> TestLabels,
    BinaryReport Validation, BinaryReport Test, double BestF1Threshold, BinaryReport TestAtBestF1, GateComparison? Comparison, GateDecision Gate)
{
    /// <summary>Scores <paramref name="package"/>, chooses its threshold, applies the gate and prints every figure.</summary>
    public static ClassifierJudgement Judge(ModelPackage package, TensorSet validation, TensorSet test, ClassifierGatePolicy policy, string modelsDirectory, bool force, ITrainingProgress progress)
    {
        var valLabels = validation.Images.Select(i => i.Defect).ToList();
        var testLabels = test.Images.Select(i => i.Defect).ToList();
        var valScores = PackageScorer.Score(package, validation);
        var testScores = PackageScorer.Score(package, test);
        var choice = ThresholdSelection.ForRecall(valScores, valLabels, policy.RecallTarget);
        var threshold = ThresholdSelection.WithMargin(choice.Threshold);
        progress.Message("threshold: " + choice.Evidence());
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"threshold in the package: {threshold:F6} (the validation choice less the margin {ThresholdSelection.Margin:E0}, chosen on the exported model's ONNX Runtime scores)"));
        var valReport = BinaryReport.From(valScores, valLabels, threshold);
        var testReport = BinaryReport.From(testScores, testLabels, threshold);
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"test at that threshold: recall {testReport.Recall:P2} ({testReport.Tp} of {testReport.Tp + testReport.Fn}, 95% lower bound {testReport.RecallLowerBound:P2}), precision {testReport.Precision:P2}, specificity {testReport.Specificity:P2}, F1 {testReport.F1:F3}, AUROC {testReport.Auroc:F4}"));
        var bestF1 = Ranking.BestF1(valScores, valLabels);
        var testAtF1 = BinaryReport.From(testScores, testLabels, bestF1.Threshold);
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"test at the validation F1-best threshold {bestF1.Threshold:F4}: accuracy {testAtF1.Accuracy:P2}, recall {testAtF1.Recall:P2}, precision {testAtF1.Precision:P2}"));

        var comparison = DeployedComparison.Measure(modelsDirectory, test, testScores, threshold, progress);
        var gate = QualityGate.Decide(testReport, policy, comparison);
        progress.Message($"gate policy: {policy}");
        foreach (var check in gate.Checks)
        {
            progress.Message($"  {check}");
        }

        progress.Message($"gate: {(gate.Pass ? "PASS" : "FAIL")}: {gate.Reason}{(!gate.Pass && force ? " (--force: made current anyway)" : "")}");
        return new ClassifierJudgement(choice, threshold, valScores, valLabels, testScores, testLabels, valReport, testReport, bestF1.Threshold, testAtF1, comparison, gate);
    }

    /// <summary>The threshold as the manifest records it.</summary>
    public ThresholdSpec ThresholdSpec() => new()
    {
        Value = Threshold,
        RecallTarget = Choice.RecallTarget,
        Method = "recall-target",
        Recall = Choice.Counts.Recall,
        Precision = Choice.Counts.Precision,
        RecallLowerBound = Choice.RecallLowerBound,
        Confidence = Choice.Confidence,
        Positives = Choice.Counts.Positives,
    };

    /// <summary>The manifest's metrics: validation, test, test at the F1-best threshold, and the deployed comparison.</summary>
    public Dictionary<string, Dictionary<string, double>> Metrics()
    {
        var metrics = new Dictionary<string, Dictionary<string, double>>
        {
            [Splits.Validation] = Validation.ToDictionary(),
            [Splits.Test] = Test.ToDictionary(),
            ["test_at_best_f1"] = TestAtBestF1.ToDictionary(),
        };
        if (Comparison is not null)
        {
            metrics["deployed_on_shared_test"] = Comparison.Deployed.ToDictionary();
            metrics["candidate_on_shared_test"] = Comparison.Candidate.ToDictionary();
        }

        return metrics;
    }
}
