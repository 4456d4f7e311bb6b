using System.Globalization;
using Inspection.Config.Models;
using Inspection.Inference;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Export;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Quantization;

/// <summary>What <c>trainer quantize</c> (and <c>--quantize int8</c> after training) needs.</summary>
internal sealed record QuantizeRequest
{
    /// <summary>The FP32 package folder (a version folder or a task folder's <c>current</c>).</summary>
    public required string Package { get; init; }

    /// <summary>The dataset; default: the one the package's manifest records.</summary>
    public string? Data { get; init; }

    /// <summary>Training-split images the activation ranges are calibrated on (evenly spaced over the split).</summary>
    public int CalibrationImages { get; init; } = 64;

    /// <summary>Make the INT8 package current even if the gate rejects it.</summary>
    public bool Force { get; init; }

    /// <summary>False: write the package without making it current (<c>trainer segment --no-current</c>).</summary>
    public bool MakeCurrent { get; init; } = true;

    /// <summary>Classifier: dataset options (folder names); null: defaults with the manifest's seed, fractions and cutoff.</summary>
    public ClassificationDataOptions? ClassificationOptions { get; init; }

    /// <summary>Classifier gate; null: the default policy at the package's recall target.</summary>
    public ClassifierGatePolicy? ClassifierGate { get; init; }

    /// <summary>Segmenter gate; null: the default policy.</summary>
    public SegmenterGatePolicy? SegmenterGate { get; init; }
}

/// <summary>A written INT8 package, its gate verdict and its agreement with the FP32 sibling.</summary>
internal sealed record QuantizeOutcome(WrittenPackage Package, GateDecision Gate, QuantizationSpec Quantization);

/// <summary>
/// Makes the INT8 version of an FP32 package: calibrates activation ranges on training images, writes the QDQ graph
/// (<see cref="QdqQuantizer"/>) as a new version beside the FP32 one (<c>&lt;version&gt;-int8</c>, same task folder,
/// with the FP32 weights for later retraining and the same <c>split.csv</c>), re-chooses the threshold on the INT8
/// model's own ONNX Runtime scores, runs the same quality gate as training (so <c>current</c> moves only if it passes,
/// or with <c>--force</c>), and records calibration and parity with the FP32 model in the manifest.
/// </summary>
internal static class Int8Quantization
{
    /// <summary>The suffix of an INT8 package's version.</summary>
    public const string VersionSuffix = "-int8";

    /// <summary>The graph form recorded in the manifest.</summary>
    public const string Format = "QDQ (QuantizeLinear/DequantizeLinear, opset 17): int8 weights, symmetric, per output channel; uint8 activations, per tensor; int32 biases; graph outputs float";

    /// <summary>Quantizes the package <paramref name="request"/> names; errors name the package or data at fault and write nothing.</summary>
    public static QuantizeOutcome Run(QuantizeRequest request, ITrainingProgress progress)
    {
        if (request.CalibrationImages < 1)
        {
            throw new ArgumentException($"--calibration-images must be at least 1 (got {request.CalibrationImages})");
        }

        var fp32 = OpenFp32(request.Package);
        var data = request.Data ?? fp32.Manifest.Training.Dataset;
        if (string.IsNullOrWhiteSpace(data))
        {
            throw new DatasetException($"{fp32.Directory}: no calibration data: the manifest records no dataset; give one with --data");
        }

        if (!File.Exists(data) && !Directory.Exists(data))
        {
            throw new DatasetException($"{fp32.Directory}: no calibration data: its dataset {Path.GetFullPath(data)} does not exist; give the data with --data");
        }

        progress.Message($"quantize: {fp32.Directory} ({fp32.Manifest.Task}, {fp32.Manifest.Arch}, {fp32.Manifest.Input.Width}x{fp32.Manifest.Input.Height}), data {data}");
        return fp32.Manifest.Task == ModelTasks.Classifier
            ? Classifier(fp32, data, request, progress)
            : Segmenter(fp32, data, request, progress);
    }

    /// <summary>Opens an FP32 package; refuses anything else with a message naming it.</summary>
    public static ModelPackage OpenFp32(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new ModelPackageException($"{full}: package folder does not exist");
        }

        // Through a `current` link: the version folder it points at, so the INT8 version lands beside it.
        var resolved = new DirectoryInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        var package = ModelPackage.Open(resolved);
        if (package.Manifest.Quantization is { } q)
        {
            throw new ModelPackageException($"{package.Directory}: is already an {q.Precision.ToUpperInvariant()} package (quantized from {q.Fp32Version}); quantize an FP32 package");
        }

        var taskFolder = Path.GetDirectoryName(package.Directory)!;
        if (Path.GetFileName(taskFolder) != package.Manifest.Task)
        {
            throw new ModelPackageException($"{package.Directory}: is not in a '{package.Manifest.Task}' folder of a models folder, so the INT8 version has no place beside it");
        }

        return package;
    }

    private static QuantizeOutcome Classifier(ModelPackage fp32, string data, QuantizeRequest request, ITrainingProgress progress)
    {
        var dataset = ClassificationDataset.Load(data, request.ClassificationOptions ?? RecordedSplit.ClassificationOptions(fp32.Manifest));
        var recorded = RecordedSplit.Check(fp32, dataset.Root, dataset.Images.Select(i => (i.Id, i.Split)));
        IReadOnlyList<LabelledImage> In(string split) => dataset.In(split).Where(i => recorded is null || recorded.Contains(i.Id)).ToList();
        var spec = fp32.Manifest.Input;
        var calibration = Evenly(In(Splits.Train), request.CalibrationImages);
        var calibrationSet = TensorSet.Build(calibration, spec);
        var validation = TensorSet.Build(In(Splits.Validation), spec);
        var test = TensorSet.Build(In(Splits.Test), spec);
        progress.Message($"data: {dataset.Source}: {calibration.Count} training images for calibration, {validation.Count} validation, {test.Count} test ({(recorded is null ? "split reproduced from the manifest's seed; the package has no split.csv" : "split checked against the package's split.csv")})");

        using var staged = Stage(fp32, calibrationSet.Tensors, progress);
        var policy = request.ClassifierGate ?? new ClassifierGatePolicy { RecallTarget = fp32.Manifest.Threshold.RecallTarget ?? 0.99 };
        var judged = ClassifierJudgement.Judge(staged.Package, validation, test, policy, ModelsDirectoryOf(fp32), request.Force, progress);

        // Parity: the FP32 sibling on the same images, through the same runner.
        var fp32Scores = PackageScorer.Score(fp32, validation).Concat(PackageScorer.Score(fp32, test)).ToArray();
        var int8Scores = judged.ValidationScores.Concat(judged.TestScores).ToArray();
        var parity = Parity.Of(fp32Scores, int8Scores, fp32.Manifest.Threshold.Value, judged.Threshold);
        var quantization = Spec(fp32, calibration.Count, parity.ToDictionary());
        progress.Message(parity.Describe("images", fp32.Manifest.Threshold.Value));
        var content = ContentOf(fp32) with
        {
            Threshold = judged.ThresholdSpec(),
            Metrics = judged.Metrics(),
            Gate = judged.Gate.Record(policy.ToString(), request.Force),
            Quantization = quantization,
        };
        return Commit(staged, content, judged.Gate, policy.ToString(), request, quantization, progress);
    }

    private static QuantizeOutcome Segmenter(ModelPackage fp32, string data, QuantizeRequest request, ITrainingProgress progress)
    {
        using var dataset = SegmentationDataset.Load(data, RecordedSplit.SegmentationOptions(fp32.Manifest), w => progress.Message($"warning: {w}"));
        var recorded = RecordedSplit.Check(fp32, dataset.Scan.Root, dataset.Samples.Select(s => (s.Id, s.Split)));
        IReadOnlyList<SegmentationSample> In(string split) => dataset.In(split).Where(s => recorded is null || recorded.Contains(s.Id)).ToList();
        var calibration = Evenly(In(Splits.Train), request.CalibrationImages);
        var (validation, test) = (In(Splits.Validation), In(Splits.Test));
        progress.Message($"data: {dataset.Scan.Root}: {calibration.Count} training pairs for calibration, {validation.Count} validation, {test.Count} test ({(recorded is null ? "split reproduced from the manifest's seed; the package has no split.csv" : "split checked against the package's split.csv")})");
        List<float[]> inputs;
        using (var batch = new SegmentationBatch(fp32.Manifest.Input))
        {
            inputs = calibration.Select(s =>
            {
                var tensor = new float[fp32.Manifest.Input.Channels * fp32.Manifest.Input.Width * fp32.Manifest.Input.Height];
                batch.Image(s.Image, tensor);
                return tensor;
            }).ToList();
        }

        using var staged = Stage(fp32, inputs, progress);
        var policy = request.SegmenterGate ?? new SegmenterGatePolicy();
        var judged = SegmenterJudgement.Judge(staged.Package, validation, test, fp32.Manifest.Threshold.RecallTarget, policy, ModelsDirectoryOf(fp32), request.Force, progress);
        var parity = PixelParity(fp32, staged.Package, validation.Concat(test).ToList(), judged.Threshold.Value);
        var quantization = Spec(fp32, calibration.Count, parity.ToDictionary());
        progress.Message(parity.Describe("pixels", fp32.Manifest.Threshold.Value));
        var content = ContentOf(fp32) with
        {
            Threshold = judged.Threshold,
            Metrics = judged.Metrics(),
            Gate = judged.Gate.Record(policy.ToString(), request.Force),
            Quantization = quantization,
        };
        return Commit(staged, content, judged.Gate, policy.ToString(), request, quantization, progress);
    }

    // Calibrates, quantizes and stages the INT8 package (model.onnx, the FP32 weights, split.csv) beside the FP32 one.
    private static StagedPackage Stage(ModelPackage fp32, IReadOnlyList<float[]> calibration, ITrainingProgress progress)
    {
        var floatModel = File.ReadAllBytes(fp32.OnnxPath);
        var ranges = QdqQuantizer.Calibrate(floatModel, calibration);
        var int8 = QdqQuantizer.Quantize(floatModel, ranges);
        var reader = OnnxModelReader.Read(int8);
        var ops = reader.Nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        progress.Message(string.Create(CultureInfo.InvariantCulture,
            $"INT8 export: {int8.Length / 1024.0:F0} KiB (FP32 {floatModel.Length / 1024.0:F0} KiB), {ranges.Count} activation ranges calibrated ({QdqQuantizer.CalibrationMethod}) on {calibration.Count} training images, {ops.GetValueOrDefault("QuantizeLinear")} QuantizeLinear / {ops.GetValueOrDefault("DequantizeLinear")} DequantizeLinear"));
        var export = new OnnxExport(int8, double.NaN, [], ops);
        return ModelPackageWriter.Stage(ModelsDirectoryOf(fp32), export, ContentOf(fp32), staging =>
        {
            foreach (var file in new[] { ModelPackage.WeightsFile, DeployedComparison.SplitFile })
            {
                if (File.Exists(Path.Combine(fp32.Directory, file)))
                {
                    File.Copy(Path.Combine(fp32.Directory, file), Path.Combine(staging, file));
                }
            }
        });
    }

    private static QuantizeOutcome Commit(StagedPackage staged, PackageContent content, GateDecision gate, string policy, QuantizeRequest request, QuantizationSpec quantization, ITrainingProgress progress)
    {
        var makeCurrent = request.MakeCurrent && (gate.Pass || request.Force);
        var written = staged.Commit(content, makeCurrent, new Dictionary<string, string> { ["GATE.txt"] = gate.Note(policy, request.Force) });
        progress.Message(makeCurrent
            ? $"INT8 package {written.Package.Directory} is now current"
            : $"INT8 package {written.Package.Directory} kept beside the current one (not made current): {gate.Reason}");
        return new QuantizeOutcome(written, gate, quantization);
    }

    // The FP32 package's manifest content under the INT8 version name; threshold, metrics and gate are replaced once judged.
    private static PackageContent ContentOf(ModelPackage fp32) => new()
    {
        Task = fp32.Manifest.Task,
        Arch = fp32.Manifest.Arch,
        Input = fp32.Manifest.Input,
        Output = fp32.Manifest.Output,
        Threshold = fp32.Manifest.Threshold,
        Training = fp32.Manifest.Training,
        Version = fp32.Manifest.Version + VersionSuffix,
    };

    private static QuantizationSpec Spec(ModelPackage fp32, int calibrationImages, Dictionary<string, double> parity) => new()
    {
        Format = Format,
        CalibrationMethod = QdqQuantizer.CalibrationMethod,
        CalibrationImages = calibrationImages,
        Fp32Version = fp32.Manifest.Version,
        Fp32OnnxSha256 = fp32.Manifest.OnnxSha256,
        Parity = parity,
    };

    private static string ModelsDirectoryOf(ModelPackage package) => Path.GetDirectoryName(Path.GetDirectoryName(package.Directory)!)!;

    private static List<T> Evenly<T>(IReadOnlyList<T> items, int count)
    {
        if (items.Count == 0)
        {
            throw new DatasetException("no calibration data: the training split is empty");
        }

        var n = Math.Min(count, items.Count);
        return Enumerable.Range(0, n).Select(i => items[(int)((long)i * items.Count / n)]).ToList();
    }

    // Per-pixel parity, streamed image by image (a mask per image would not fit for large test sets).
    private static Parity PixelParity(ModelPackage fp32, ModelPackage int8, IReadOnlyList<SegmentationSample> samples, double int8Threshold)
    {
        using var fp32Model = OnnxModel.Load(fp32);
        using var int8Model = OnnxModel.Load(int8);
        using var fp32Runner = new OnnxRunner(fp32Model);
        using var int8Runner = new OnnxRunner(int8Model);
        using var batch = new SegmentationBatch(fp32.Manifest.Input);
        var pixels = fp32.Manifest.Input.Width * fp32.Manifest.Input.Height;
        var (a, b) = (new float[pixels], new float[pixels]);
        var parity = new Parity.Accumulator(fp32.Manifest.Threshold.Value, int8Threshold);
        foreach (var sample in samples)
        {
            batch.Image(sample.Image, fp32Runner.Input);
            fp32Runner.Input.CopyTo(int8Runner.Input, 0);
            fp32Runner.Run();
            int8Runner.Run();
            ModelOutputs.PixelProbabilities(fp32Runner.Output, fp32.Manifest.Output.Kind, a);
            ModelOutputs.PixelProbabilities(int8Runner.Output, int8.Manifest.Output.Kind, b);
            for (var i = 0; i < pixels; i++)
            {
                parity.Add(a[i], b[i]);
            }
        }

        return parity.Result();
    }

}

/// <summary>How an INT8 model's scores agree with its FP32 sibling's on the same inputs.</summary>
/// <param name="Samples">Images (classifier) or pixels (segmenter) compared.</param>
/// <param name="Agreement">Share of equal decisions, both at the FP32 threshold.</param>
/// <param name="AgreementOwnThresholds">Share of equal decisions, each model at its own threshold (as each would be deployed).</param>
/// <param name="MaxDifference">Largest |INT8 − FP32| probability.</param>
/// <param name="MeanDifference">Mean |INT8 − FP32| probability.</param>
internal sealed record Parity(long Samples, double Agreement, double AgreementOwnThresholds, double MaxDifference, double MeanDifference)
{
    /// <summary>Parity of two score lists.</summary>
    public static Parity Of(IReadOnlyList<double> fp32, IReadOnlyList<double> int8, double fp32Threshold, double int8Threshold)
    {
        var accumulator = new Accumulator(fp32Threshold, int8Threshold);
        for (var i = 0; i < fp32.Count; i++)
        {
            accumulator.Add(fp32[i], int8[i]);
        }

        return accumulator.Result();
    }

    /// <summary>The manifest's <c>quantization.parity</c>.</summary>
    public Dictionary<string, double> ToDictionary() => new()
    {
        ["samples"] = Samples,
        ["decision_agreement"] = Agreement,
        ["decision_agreement_own_thresholds"] = AgreementOwnThresholds,
        ["max_score_difference"] = MaxDifference,
        ["mean_score_difference"] = MeanDifference,
    };

    /// <summary>One line for the log.</summary>
    public string Describe(string unit, double fp32Threshold) => string.Create(CultureInfo.InvariantCulture,
        $"parity with FP32 on {Samples} validation+test {unit}: decisions agree {Agreement:P2} at the FP32 threshold {fp32Threshold:F4}, {AgreementOwnThresholds:P2} each at its own; max |INT8 - FP32| probability {MaxDifference:F4}, mean {MeanDifference:F5}");

    /// <summary>Adds pairs one at a time.</summary>
    public sealed class Accumulator(double fp32Threshold, double int8Threshold)
    {
        private long _count;
        private long _agree;
        private long _agreeOwn;
        private double _max;
        private double _sum;

        /// <summary>One pair of probabilities.</summary>
        public void Add(double fp32, double int8)
        {
            _count++;
            _agree += (fp32 >= fp32Threshold) == (int8 >= fp32Threshold) ? 1 : 0;
            _agreeOwn += (fp32 >= fp32Threshold) == (int8 >= int8Threshold) ? 1 : 0;
            var d = Math.Abs(fp32 - int8);
            _max = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(_max, d);
            _sum += d;
        }

        /// <summary>The figures so far.</summary>
        public Parity Result() => _count == 0
            ? new Parity(0, double.NaN, double.NaN, double.NaN, double.NaN)
            : new Parity(_count, (double)_agree / _count, (double)_agreeOwn / _count, _max, _sum / _count);
    }
}
