using Inspection.Trainer.Benchmarks;
using Inspection.Trainer.Models;

namespace Inspection.Trainer.Tests.Benchmarks;

public sealed class MacCounterTests
{
    [Fact]
    public void Resnet18_at_224_costs_the_published_count_plus_its_third_last_stage_block()
    {
        using var model = new ResNet18Classifier(3);

        var macs = MacCounter.Count(model, 3, 224, 224);

        // He et al. 2016: 1.8 G multiply-adds for ResNet-18 (torchvision counts 1.814 G); the package's network has a
        // third block in the last stage: two 3x3 512->512 convolutions on 7x7, 2 x 49 x 512 x 512 x 9 = 0.231 G more.
        Assert.InRange(macs / 1e9, 1.814 + 0.231 - 0.005, 1.814 + 0.231 + 0.005);
    }

    [Fact]
    public void Unet_counts_its_transposed_convolutions_too()
    {
        using var model = new UNet(1, 0.25, Architectures.UNetResNet18);
        using var encoderOnly = new ResNet18Encoder(1);

        Assert.True(MacCounter.Count(model, 1, 64, 64) > MacCounter.Count(encoderOnly, 1, 64, 64) * 1.05);
    }
}
