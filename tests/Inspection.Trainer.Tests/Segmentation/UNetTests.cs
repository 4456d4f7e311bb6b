using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Segmentation;

public sealed class UNetTests
{
    [Fact]
    public void Unet_outputs_one_logit_per_pixel_and_exports_with_parity()
    {
        using var scope = NewDisposeScope();
        using var model = new UNet(3, 0.35);

        var export = OnnxExporter.Export(model, 3, 64, 96);

        Assert.Equal([1L, 64, 96], export.OutputShape);
        Assert.True(export.MaxAbsDifference <= OnnxExporter.Tolerance);
        Assert.Equal(5, export.OpCounts["ConvTranspose"]);
        Assert.Equal(4, export.OpCounts["Concat"]);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Resnet18_unet_takes_skips_at_strides_2_4_8_16_and_exports_with_parity()
    {
        using var scope = NewDisposeScope();
        using var model = new UNet(1, 0.25, Architectures.UNetResNet18);
        TestModels.RandomiseBatchNorm(model, seed: 9);
        model.eval();

        var features = model.FeatureEncoder.Features(zeros(1, 1, 64, 96));
        var export = OnnxExporter.Export(model, 1, 64, 96);

        Assert.Equal([32L, 16, 8, 4, 2], features.Select(f => f.shape[2]));
        Assert.Equal([64L, 64, 128, 256, 512], features.Select(f => f.shape[1]));
        Assert.Equal([1L, 64, 96], export.OutputShape);
        Assert.True(export.MaxAbsDifference <= OnnxExporter.Tolerance);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Skips_come_from_strides_2_4_8_16_and_the_bottleneck_feeds_the_decoder()
    {
        using var scope = NewDisposeScope();
        using var model = new UNet(1, 0.5);
        model.eval();

        var features = model.FeatureEncoder.Features(zeros(1, 1, 128, 128));

        Assert.Equal([64L, 32, 16, 8, 4], features.Select(f => f.shape[2]));
        Assert.Equal([1L, 1, 128, 128], model.forward(zeros(1, 1, 128, 128)).shape);
    }

    [Fact]
    public void Decoder_widths_scale_with_the_width_multiplier()
    {
        using var small = new UNet(1, 0.25);
        using var large = new UNet(1, 1.0);

        var smallCount = small.parameters().Sum(p => p.numel());
        var largeCount = large.parameters().Sum(p => p.numel());

        Assert.True(largeCount > 8 * smallCount, $"x1.0 has {largeCount} parameters, x0.25 {smallCount}");
        Assert.Throws<ArgumentException>(() => UNet.CheckInputSize(100, 96));
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void A_frozen_parameter_group_gets_no_gradient_and_keeps_its_batch_norm_statistics()
    {
        using var scope = NewDisposeScope();
        using var model = new UNet(1, 0.25);
        var (encoder, decoder) = ParameterGroup.Split(model, model.Encoder, "encoder", "decoder");
        ParameterGroup[] groups = [encoder with { FrozenEpochs = 1 }, decoder];
        Assert.Equal(["encoder"], ParameterGroup.TrainMode(model, groups, epoch: 1));
        var before = model.Encoder.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        model.forward(randn(2, 1, 64, 64)).sum().backward();

        Assert.All(model.Encoder.parameters(), p => Assert.Null(p.grad));
        Assert.All(model.Encoder.state_dict(), kv => Assert.True(kv.Value.eq(before[kv.Key]).all().item<bool>(), kv.Key));
        Assert.Contains(model.parameters(), p => p.grad is not null);

        Assert.Empty(ParameterGroup.TrainMode(model, groups, epoch: 2));
        Assert.All(model.Encoder.parameters(), p => Assert.True(p.requires_grad));
        Assert.True(model.Encoder.training);
    }
}
