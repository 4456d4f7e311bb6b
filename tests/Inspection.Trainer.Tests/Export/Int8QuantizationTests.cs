using System.Text.Json.Nodes;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Inference;
using Inspection.Inference;
using Inspection.Inference.Preprocessing;
using Inspection.TestSupport;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Datasets;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Export;
using Inspection.Trainer.Quantization;
using Inspection.Trainer.Tests.Segmentation;
using Inspection.Trainer.Tests.Training;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Trainer.Tests.Export;

/// <summary>Trains a small classifier once (textures with and without scratches) and quantizes its package.</summary>
public sealed class QuantizedClassifierFixture : IDisposable
{
    public QuantizedClassifierFixture()
    {
        Data = SyntheticData.TextureFolders(Dir.Combine("data"), perClass: 60, size: 48, seed: 3);
        Fp32 = new ClassifierRun(new RecordingProgress()).Run(ClassifierTrainingTests.Request(Data, Models, epochs: 6));
        Int8 = Int8Quantization.Run(new QuantizeRequest { Package = Fp32.PackageDirectory, CalibrationImages = 32 }, Progress);
    }

    public TempDirectory Dir { get; } = new("int8");

    public string Models => Dir.Combine("models");

    public string Data { get; }

    internal ClassifyResult Fp32 { get; }

    internal QuantizeOutcome Int8 { get; }

    internal RecordingProgress Progress { get; } = new();

    public void Dispose() => Dir.Dispose();
}

public sealed class Int8QuantizationTests(QuantizedClassifierFixture fixture) : IClassFixture<QuantizedClassifierFixture>
{
    // What "agrees with FP32" means here: the same decision for nearly every image, and probabilities within a few
    // points (uint8 activations on a 6-epoch model whose scores sit near 0 and 1).
    private const double MinAgreement = 0.95;
    private const double MaxProbabilityDifference = 0.05;

    [Fact]
    public void Quantize_writes_an_int8_version_beside_the_fp32_package_that_agrees_with_it_and_records_how()
    {
        var fp32 = ModelPackage.Open(fixture.Fp32.PackageDirectory);
        var int8 = fixture.Int8.Package.Package;

        Assert.Equal(Path.GetDirectoryName(fp32.Directory), Path.GetDirectoryName(int8.Directory));
        Assert.Equal(fp32.Manifest.Version + Int8Quantization.VersionSuffix, int8.Manifest.Version);
        var q = int8.Manifest.Quantization!;
        Assert.Equal(QuantizationSpec.Int8, q.Precision);
        Assert.Equal("min-max", q.CalibrationMethod);
        Assert.Equal(32, q.CalibrationImages);
        Assert.Equal(fp32.Manifest.Version, q.Fp32Version);
        Assert.Equal(fp32.Manifest.OnnxSha256, q.Fp32OnnxSha256);
        Assert.Null(fp32.Manifest.Quantization);
        Assert.True(File.Exists(int8.WeightsPath), "the FP32 weights travel with the INT8 package, so retraining can start from it");

        // The graph holds int8 weights and Q/DQ pairs, and is smaller than the float one.
        var graph = OnnxModelReader.Read(File.ReadAllBytes(int8.OnnxPath));
        Assert.Contains(graph.Nodes, n => n.OpType == "QuantizeLinear");
        Assert.True(new FileInfo(int8.OnnxPath).Length < new FileInfo(fp32.OnnxPath).Length / 2);

        // Parity, recomputed here through the daemon's runner on the test split, and as recorded.
        var options = RecordedSplit.ClassificationOptions(fp32.Manifest);
        var images = ClassificationDataset.Load(fixture.Data, options).In("test");
        var a = PackageScorer.Score(fp32, images);
        var b = PackageScorer.Score(int8, images);
        var maxDiff = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        var agree = a.Zip(b).Count(p => (p.First >= fp32.Manifest.Threshold.Value) == (p.Second >= fp32.Manifest.Threshold.Value)) / (double)a.Length;
        Assert.InRange(maxDiff, 0, MaxProbabilityDifference);
        Assert.InRange(agree, MinAgreement, 1);
        Assert.InRange(q.Parity["max_score_difference"], 0, MaxProbabilityDifference);
        Assert.InRange(q.Parity["decision_agreement"], MinAgreement, 1);
        Assert.True(a.Zip(b).Any(p => p.First != p.Second), "INT8 scores identical to FP32: nothing was quantized");
        Assert.Contains(fixture.Progress.Messages, m => m.StartsWith("parity with FP32", StringComparison.Ordinal));
    }

    [Fact]
    public void The_threshold_is_chosen_on_the_int8_scores_and_the_gate_decides_current()
    {
        var int8 = fixture.Int8.Package.Package;
        var gate = int8.Manifest.Gate!;

        // The recorded threshold reaches the recall target on validation with the INT8 model's own scores.
        var manifest = int8.Manifest;
        var validation = ClassificationDataset.Load(fixture.Data, RecordedSplit.ClassificationOptions(manifest)).In("validation");
        var scores = PackageScorer.Score(int8, validation);
        var positives = validation.Select((image, i) => (image, score: scores[i])).Where(p => p.image.Defect).ToList();
        var recall = positives.Count(p => p.score >= manifest.Threshold.Value) / (double)positives.Count;
        Assert.True(recall >= manifest.Threshold.RecallTarget, $"validation recall {recall:F3} at the INT8 threshold");
        Assert.Equal(recall, manifest.Threshold.Recall, 6);

        // Judged against the deployed FP32 package on the shared test images, and current exactly when it passed.
        Assert.Contains(gate.Checks, c => c.Contains("vs-deployed", StringComparison.Ordinal));
        Assert.Equal(gate.Passed, fixture.Int8.Package.IsCurrent);
        var current = ModelPackage.ResolveCurrent(fixture.Models, ModelTasks.Classifier);
        Assert.Equal(Path.GetFullPath(gate.Passed ? int8.Directory : fixture.Fp32.PackageDirectory), Path.GetFullPath(current!));
        Assert.Contains(gate.Passed ? "PASSED" : "REJECTED", File.ReadAllText(Path.Combine(int8.Directory, "GATE.txt")));
    }

    [Fact]
    public void Onnx_runtime_fuses_the_qdq_graph_into_integer_kernels()
    {
        var int8 = fixture.Int8.Package.Package;
        var optimized = fixture.Dir.Combine("optimized.onnx");
        using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimized, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR })
        using (new InferenceSession(int8.OnnxPath, options))
        {
        }

        var ops = OnnxModelReader.Read(File.ReadAllBytes(optimized)).Nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        var floatConvs = OnnxModelReader.Read(File.ReadAllBytes(ModelPackage.Open(fixture.Fp32.PackageDirectory).OnnxPath)).Nodes.Count(n => n.OpType == "Conv");

        // Every convolution but the class activation map's 1x1 head (a graph output, kept float) runs as QLinearConv.
        Assert.Equal(floatConvs - 1, ops.GetValueOrDefault("QLinearConv"));
        Assert.True(ops.GetValueOrDefault("QLinearAdd") > 0, string.Join(", ", ops.Select(kv => $"{kv.Key} {kv.Value}")));
    }

    [Fact]
    public void The_daemons_inference_library_loads_and_runs_the_int8_package()
    {
        var int8 = ModelPackage.Open(fixture.Int8.Package.Package.Directory);

        using var model = OnnxModel.Load(int8);
        using var runner = new OnnxRunner(model);
        using var image = SyntheticData.Texture(new Random(5), 48, scratch: true);
        using var preprocessor = new Preprocessor(int8.Manifest.Input);
        preprocessor.Run(image, runner.Input);
        runner.Run();

        Assert.InRange(ModelOutputs.Probability(runner.Output, int8.Manifest.Output.Kind), 0, 1);
        Assert.NotNull(runner.Cam);
    }

    [Fact]
    public void Quantize_refuses_bad_input_naming_it_and_writes_nothing()
    {
        var before = Snapshot();

        // Not a package.
        var notPackage = Assert.Throws<ModelPackageException>(() => Int8Quantization.Run(new QuantizeRequest { Package = fixture.Data }, new RecordingProgress()));
        Assert.Contains(Path.GetFullPath(fixture.Data), notPackage.Message);

        // Already INT8.
        var int8Dir = fixture.Int8.Package.Package.Directory;
        var already = Assert.Throws<ModelPackageException>(() => Int8Quantization.Run(new QuantizeRequest { Package = int8Dir }, new RecordingProgress()));
        Assert.Contains(int8Dir, already.Message);
        Assert.Contains("already an INT8 package", already.Message);

        // A copy of the FP32 package whose dataset is gone: no calibration data.
        using var elsewhere = new TempDirectory("int8-nodata");
        var copy = Path.Combine(elsewhere.Combine("models"), ModelTasks.Classifier, "v1");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(fixture.Fp32.PackageDirectory))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        var manifestPath = Path.Combine(copy, ModelPackage.ManifestFile);
        var json = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        json["training"]!["dataset"] = elsewhere.Combine("gone");
        File.WriteAllText(manifestPath, json.ToJsonString());
        var noData = Assert.Throws<DatasetException>(() => Int8Quantization.Run(new QuantizeRequest { Package = copy }, new RecordingProgress()));
        Assert.Contains("no calibration data", noData.Message);
        Assert.Contains(elsewhere.Combine("gone"), noData.Message);
        Assert.Equal([copy], Directory.GetDirectories(Path.GetDirectoryName(copy)!));

        // The CLI says the same in one line and exits 1.
        var (code, _, stderr) = TrainerProcess.Run("quantize", "--model", fixture.Data);
        Assert.Equal(1, code);
        Assert.Contains($"trainer: error: {Path.GetFullPath(fixture.Data)}", stderr);

        Assert.Equal(before, Snapshot());
    }

    // The classifier folder's entries and where current points.
    private string Snapshot()
    {
        var folder = Path.Combine(fixture.Models, ModelTasks.Classifier);
        return string.Join(",", Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)) + " -> " + ModelPackage.ResolveCurrent(fixture.Models, ModelTasks.Classifier);
    }

    [Fact]
    public void Segment_with_quantize_int8_writes_both_packages_the_int8_one_agrees_per_pixel_and_the_daemon_loads_both_int8_models()
    {
        // A small MobileNetV2 U-Net: ReLU6 (Clip) folding, depthwise convolutions, transposed-convolution upsampling
        // (written as Conv + DepthToSpace) and skip concatenations all go through the QDQ export.
        using var dir = new TempDirectory("int8-seg");
        AerialScenes.WriteDataset(dir.Combine("data"), count: 32, size: 64, seed: 4);
        var models = dir.Combine("models");
        var (code, stdout, stderr) = TrainerProcess.Run("segment", "--data", dir.Combine("data"), "--out", models, "--arch", "unet-mobilenetv2", "--width-multiplier", "0.25",
            "--pretrained", "none", "--image-size", "64", "--epochs", "2", "--batch-size", "8", "--threads", "2", "--quantize", "int8", "--force");
        Assert.True(code == 0, stdout + stderr);

        var int8 = ModelPackage.OpenCurrent(models, ModelTasks.Segmenter);
        var q = int8.Manifest.Quantization!;
        var fp32 = ModelPackage.Open(Path.Combine(models, ModelTasks.Segmenter, q.Fp32Version));
        Assert.Equal(fp32.Manifest.Version + Int8Quantization.VersionSuffix, int8.Manifest.Version);
        Assert.Contains("DepthToSpace", OnnxModelReader.Read(File.ReadAllBytes(int8.OnnxPath)).Nodes.Select(n => n.OpType));
        Assert.DoesNotContain("ConvTranspose", OnnxModelReader.Read(File.ReadAllBytes(int8.OnnxPath)).Nodes.Select(n => n.OpType));

        // Per-pixel parity on validation + test, as recorded: nearly every pixel decided alike.
        Assert.Equal((fp32.Manifest.Training.Split["validation"] + fp32.Manifest.Training.Split["test"]) * 64 * 64, q.Parity["samples"]);
        Assert.InRange(q.Parity["decision_agreement"], 0.97, 1);
        Assert.InRange(q.Parity["max_score_difference"], 1e-6, 0.25);
        Assert.InRange(q.Parity["mean_score_difference"], 1e-7, 0.02);
        Assert.Contains("parity with FP32 on", stderr + stdout);
        Assert.NotNull(int8.Manifest.Gate);

        // The daemon's own loader (task check, session with its settings, warm-up run) takes both INT8 packages.
        var classifier = ModelPackage.Open(fixture.Int8.Package.Package.Directory);
        var set = ModelSet.Load(classifier, int8, new ModelsOptions { Directory = models, Provider = ModelProvider.Cpu }, new ProviderChoice(ModelProvider.Cpu, _ => { }));
        try
        {
            Assert.Equal("cpu", set.Provider);
            Assert.Equal(QuantizationSpec.Int8, set.Classifier.Manifest.Quantization!.Precision);
            Assert.Equal(QuantizationSpec.Int8, set.Segmenter.Manifest.Quantization!.Precision);
        }
        finally
        {
            set.Release();
        }
    }

    [Fact]
    public void Bench_int8_prints_both_timings_their_ratio_the_load_and_the_fused_kernels()
    {
        var (code, stdout, stderr) = TrainerProcess.Run("bench", "--int8", "--arch", "resnet", "unet-mobilenetv2", "--width", "0.25", "--sizes", "64", "--steps", "2");

        Assert.True(code == 0, stdout + stderr);
        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, rows.Length);
        Assert.All(rows, row => Assert.Matches(@"FP32 +[0-9.]+ ms  INT8 +[0-9.]+ ms  INT8/FP32 throughput +[0-9.]+x", row));
        Assert.Contains("QLinearConv", rows[0]);
        Assert.Contains("QLinearConcat", rows[1]);
        Assert.Contains("load average", stderr);
    }
}
