using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Packaging;

public sealed class ModelPackageWriterTests
{
    private static PackageContent Content(string? version = null) => new()
    {
        Task = ModelTasks.Classifier,
        Arch = Architectures.MobileNetV2,
        Input = new InputSpec { Width = 48, Height = 48, Channels = 1, Mean = [0.5f], Std = [0.25f] },
        Threshold = new ThresholdSpec { Value = 0.3, RecallTarget = 0.95, Recall = 0.96, Precision = 0.7, RecallLowerBound = 0.9, Positives = 50 },
        Training = new TrainingSpec { Dataset = "test", Epochs = 1 },
        Metrics = new() { ["test"] = new() { ["recall"] = 0.97 } },
        Version = version,
    };

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Package_round_trips_through_open_and_its_weights_and_onnx_reproduce_the_model()
    {
        using var dir = new TempDirectory("package");
        using var model = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.35);
        TestModels.RandomiseBatchNorm(model, seed: 1);
        using var log = new StringWriter();

        var written = ModelPackageWriter.Write(dir.Path, model, Content("v1"), makeCurrent: true, log: log);

        var reopened = ModelPackage.OpenCurrent(dir.Path, ModelTasks.Classifier);
        Assert.Equal(written.Package.Directory, reopened.Directory);
        Assert.Equal("v1", reopened.Manifest.Version);
        Assert.Equal(0.3, reopened.Manifest.Threshold.Value);
        Assert.Equal(50, reopened.Manifest.Threshold.Positives);
        Assert.Equal(0.97, reopened.Manifest.Metrics["test"]["recall"]);
        Assert.Contains("max |ONNX Runtime - TorchSharp|", log.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, ModelTasks.Classifier), ".staging-*"));

        using var fresh = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.35);
        ModelPackageWriter.LoadWeights(fresh, reopened);
        fresh.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var generator = new Generator(4);
        var input = randn(2, 1, 48, 48, generator: generator);
        var expected = model.forward(input).data<float>().ToArray();
        var fromWeights = fresh.forward(input).data<float>().ToArray();
        var fromOnnx = OnnxExporter.RunOnnx(File.ReadAllBytes(reopened.OnnxPath), "input", input.data<float>().ToArray(), [2, 1, 48, 48]);
        Assert.Equal(expected, fromWeights);
        Assert.All(expected.Zip(fromOnnx), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 1e-4));
    }

    [Fact]
    public void A_second_version_beside_the_first_leaves_current_alone_unless_asked()
    {
        using var dir = new TempDirectory("package");
        using var model = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        ModelPackageWriter.Write(dir.Path, model, Content("v1"), makeCurrent: true, log: TextWriter.Null);

        var second = ModelPackageWriter.Write(dir.Path, model, Content("v2"), makeCurrent: false,
            extraFiles: new Dictionary<string, string> { ["REJECTED.txt"] = "recall below target" }, log: TextWriter.Null);

        Assert.False(second.IsCurrent);
        Assert.Equal("v1", ModelPackage.OpenCurrent(dir.Path, ModelTasks.Classifier).Manifest.Version);
        Assert.Equal("recall below target", File.ReadAllText(Path.Combine(second.Package.Directory, "REJECTED.txt")));
        Assert.Throws<IOException>(() => ModelPackageWriter.Write(dir.Path, model, Content("v2"), makeCurrent: true, log: TextWriter.Null));
        Assert.Equal("v1", ModelPackage.OpenCurrent(dir.Path, ModelTasks.Classifier).Manifest.Version);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "nn.Sequential owns the modules it is given; disposing it frees them.")]
    public void Failed_export_leaves_no_version_folder_and_keeps_current()
    {
        using var dir = new TempDirectory("package");
        using var good = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        ModelPackageWriter.Write(dir.Path, good, Content("v1"), makeCurrent: true, log: TextWriter.Null);
        using var notExportable = nn.Sequential(nn.Conv2d(1, 1, 3));

        Assert.Throws<OnnxExportException>(() => ModelPackageWriter.Write(dir.Path, notExportable, Content("v2"), makeCurrent: true, log: TextWriter.Null));

        var taskDir = Path.Combine(dir.Path, ModelTasks.Classifier);
        Assert.Equal(["current", "v1"], Directory.GetFileSystemEntries(taskDir).Select(p => Path.GetFileName(p)!).Order().ToArray());
        Assert.Equal("v1", ModelPackage.OpenCurrent(dir.Path, ModelTasks.Classifier).Manifest.Version);
    }

    [Fact]
    public void Weights_of_another_architecture_are_refused_naming_the_file()
    {
        using var dir = new TempDirectory("package");
        using var resnet = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        var written = ModelPackageWriter.Write(dir.Path, resnet, Content("v1") with { Arch = Architectures.ResNet }, makeCurrent: false, log: TextWriter.Null);
        using var mobilenet = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.35);

        var error = Assert.Throws<ModelPackageException>(() => ModelPackageWriter.LoadWeights(mobilenet, written.Package));

        Assert.Contains(written.Package.WeightsPath, error.Message, StringComparison.Ordinal);
    }
}
