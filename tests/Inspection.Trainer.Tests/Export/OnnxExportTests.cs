using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Export;

public sealed class OnnxExportTests
{
    [Theory]
    [InlineData(Architectures.MobileNetV2, 1, 0.5)]
    [InlineData(Architectures.MobileNetV2, 3, 0.35)]
    [InlineData(Architectures.ResNet, 1, 0.25)]
    [InlineData(Architectures.ResNet18, 3, 1.0)]
    public void Exported_classifier_matches_torchsharp_in_onnx_runtime(string arch, int channels, double width)
    {
        using var model = Architectures.CreateClassifier(arch, channels, width);
        TestModels.RandomiseBatchNorm(model, seed: 7);

        var export = OnnxExporter.Export(model, channels, 64, 64);

        Assert.InRange(export.MaxAbsDifference, 0, OnnxExporter.Tolerance);
        Assert.Equal([1L], export.OutputShape);
        Assert.DoesNotContain("BatchNormalization", export.OpCounts.Keys);
        Assert.True(export.OpCounts["Conv"] > 10);
        Assert.Equal(1, export.OpCounts["Gemm"]);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Batch_axis_is_dynamic_and_batch_norm_folding_keeps_the_eval_output()
    {
        using var model = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        TestModels.RandomiseBatchNorm(model, seed: 3);
        var export = OnnxExporter.Export(model, 1, 32, 32);

        foreach (var batch in new[] { 1, 5 })
        {
            using var scope = NewDisposeScope();
            using var generator = new Generator(11);
            var input = randn(batch, 1, 32, 32, generator: generator);
            using var noGrad = no_grad();
            var expected = model.forward(input).data<float>().ToArray();

            var actual = OnnxExporter.RunOnnx(export.Onnx, "input", input.data<float>().ToArray(), [batch, 1, 32, 32]);

            Assert.Equal(batch, actual.Length);
            Assert.All(expected.Zip(actual), p => Assert.InRange(Math.Abs(p.First - p.Second), 0, 1e-4));
        }
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Encoder_features_have_the_documented_strides_and_channels()
    {
        using var encoder = new MobileNetV2Encoder(3, 0.5);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        encoder.eval();

        var features = encoder.Features(randn(2, 3, 64, 64));

        Assert.Equal(5, features.Length);
        for (var i = 0; i < features.Length; i++)
        {
            var stride = MobileNetV2Encoder.FeatureStrides[i];
            Assert.Equal([2L, encoder.FeatureChannels[i], 64 / stride, 64 / stride], features[i].shape);
        }
    }

    [Fact]
    public void Transposed_convolution_and_concatenation_export_with_parity()
    {
        using var model = new TinyUNet();
        TestModels.RandomiseBatchNorm(model, seed: 5);

        var export = OnnxExporter.Export(model, 1, 32, 32, outputName: "mask_logit");

        Assert.InRange(export.MaxAbsDifference, 0, OnnxExporter.Tolerance);
        Assert.Equal([1L, 32L, 32L], export.OutputShape);
        Assert.Equal(1, export.OpCounts["ConvTranspose"]);
        Assert.Equal(1, export.OpCounts["Concat"]);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "nn.Sequential owns the modules it is given; disposing it frees them.")]
    public void A_module_that_cannot_export_itself_is_refused_by_name()
    {
        using var plain = nn.Sequential(nn.Conv2d(1, 2, 3));

        var error = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(plain, 1, 16, 16));

        Assert.Contains("Sequential", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Encoder stage at stride 2, a transposed convolution (with batch norm) back to full size, concatenation with the input's features, 1×1 head.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
    private sealed class TinyUNet : nn.Module<Tensor, Tensor>, IOnnxExportable
    {
        private readonly ConvBn stem;
        private readonly ConvBn down;
        private readonly ConvTranspose2d up;
        private readonly BatchNorm2d upBn;
        private readonly ConvBn head;

        public TinyUNet()
            : base(nameof(TinyUNet))
        {
            stem = new ConvBn(1, 8, 3);
            down = new ConvBn(8, 16, 3, stride: 2);
            up = nn.ConvTranspose2d(16, 8, 2, stride: 2, bias: false);
            upBn = nn.BatchNorm2d(8);
            head = new ConvBn(16, 1, 1, activation: Activation.None);
            RegisterComponents();
        }

        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
        [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var skip = stem.forward(input);
            var upsampled = nn.functional.relu(upBn.forward(up.forward(down.forward(skip))));
            return head.forward(cat([upsampled, skip], 1)).MoveToOuterDisposeScope();
        }

        public string ExportOnnx(OnnxGraph graph, string input)
        {
            var skip = stem.ExportOnnx(graph, input);
            var upsampled = graph.Activation(Activation.Relu, graph.ConvTranspose(up, upBn, down.ExportOnnx(graph, skip)));
            return head.ExportOnnx(graph, graph.Concat(1, upsampled, skip));
        }
    }
}
