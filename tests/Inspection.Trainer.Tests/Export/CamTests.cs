using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Inference;
using Inspection.TestSupport;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Export;

/// <summary>The class activation map output: parity between TorchSharp and ONNX Runtime, and the manifest contract.</summary>
public sealed class CamTests
{
    [Theory]
    [InlineData(Architectures.ResNet, 1, 0.25)]
    [InlineData(Architectures.MobileNetV2, 3, 0.35)]
    [InlineData(Architectures.ResNet18, 1, 1.0)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Cam_output_matches_torchsharp_in_onnx_runtime_and_averages_to_the_logit(string arch, int channels, double width)
    {
        using var scope = NewDisposeScope();
        using var model = Architectures.CreateClassifier(arch, channels, width);
        TestModels.RandomiseBatchNorm(model, seed: 5);

        var export = OnnxExporter.Export(model, channels, 96, 64, camName: PooledClassifier.CamOutput);

        Assert.Equal([1L, 3L, 2L], export.CamShape!); // stride 32
        long[] shape = [2, channels, 96, 64];
        using var generator = new Generator(9);
        var input = randn(shape, generator: generator);
        var outputs = OnnxExporter.RunOnnxAll(export.Onnx, "input", input.data<float>().ToArray(), shape);
        model.eval();
        using var noGrad = no_grad();
        var logits = model.forward(input).reshape(-1).data<float>().ToArray();
        var cam = PooledClassifier.Cam((IPooledClassifier)model, input).data<float>().ToArray();
        Assert.Equal(logits.Length, outputs[0].Length);
        Assert.Equal(cam.Length, outputs[1].Length);
        Assert.All(cam.Zip(outputs[1]), p => Assert.Equal(p.First, p.Second, 1e-4f));
        for (var sample = 0; sample < 2; sample++)
        {
            // Pooling and the head are linear: the map's mean is the image's logit.
            Assert.Equal(logits[sample], outputs[1].Skip(sample * 6).Take(6).Average(), 1e-4);
        }
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public void A_package_names_its_cam_output_and_a_manifest_naming_a_missing_one_is_refused()
    {
        using var dir = new TempDirectory("cam-package");
        torch.manual_seed(4);
        using var model = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        var input = new InputSpec { Width = 64, Height = 64, Channels = 1, Mean = [0.5f], Std = [0.25f] };
        var written = ModelPackageWriter.Write(dir.Combine("models"), model, new PackageContent
        {
            Task = ModelTasks.Classifier,
            Arch = Architectures.ResNet,
            Input = input,
            Output = new OutputSpec { Cam = PooledClassifier.CamOutput },
            Threshold = new ThresholdSpec { Value = 0.5 },
        }, makeCurrent: true, log: TextWriter.Null).Package;

        using (var loaded = OnnxModel.Load(written))
        using (var runner = new OnnxRunner(loaded))
        {
            Assert.Equal("cam", written.Manifest.Output.Cam);
            Assert.Equal([1L, 1L, 2L, 2L], loaded.CamShape!);
            runner.Run();
            Assert.Equal(runner.Output[0], runner.Cam!.Average(), 1e-4);
        }

        var manifestPath = Path.Combine(written.Directory, ModelPackage.ManifestFile);
        (written.Manifest with { Output = written.Manifest.Output with { Cam = "heat" } }).Save(manifestPath);
        var error = Assert.Throws<ModelPackageException>(() => OnnxModel.Load(ModelPackage.Open(written.Directory)));
        Assert.Contains("names a class activation map output 'heat' but the classifier's graph has no such output", error.Message, StringComparison.Ordinal);

        // A package written before the output existed (no "cam" in its manifest) loads without one.
        (written.Manifest with { Output = written.Manifest.Output with { Cam = null } }).Save(manifestPath);
        using var older = OnnxModel.Load(ModelPackage.Open(written.Directory));
        using var olderRunner = new OnnxRunner(older);
        Assert.Null(older.CamShape);
        Assert.Null(olderRunner.Cam);
    }
}
