using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Training;

public sealed class AugmenterTests
{
    private static readonly InputSpec Spec = new() { Width = 32, Height = 32, Channels = 1, Mean = [0.5f], Std = [0.25f] };

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Geometric_transforms_move_the_mask_exactly_like_the_image()
    {
        using var scope = NewDisposeScope();
        // A blocky binary pattern used both as image and as mask: after the same transform they must still agree
        // (up to bilinear vs nearest sampling along block edges).
        using var generator = new Generator(3);
        var blocks = (rand(4, 1, 4, 4, generator: generator) > 0.5).to_type(ScalarType.Float32);
        var pattern = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3);
        var geometricOnly = AugmentOptions.None with { HorizontalFlip = true, VerticalFlip = true, Rotate90 = true, RotationDegrees = 20, Shift = 0.1, ZoomMin = 0.8, ZoomMax = 1.2 };
        var augmenter = new Augmenter(geometricOnly, Spec, seed: 1);

        var (image, mask) = augmenter.Geometric(pattern, pattern, new Random(9));

        Assert.True((image - pattern).abs().max().item<float>() > 0, "the transform changed nothing");
        var agree = ((image > 0.5) == (mask! > 0.5)).to_type(ScalarType.Float32).mean().item<float>();
        Assert.True(agree > 0.9, $"image and mask agree on only {agree:P1} of pixels");
        Assert.True(mask!.unique().output.data<float>().ToArray().All(v => v is 0f or 1f), "mask is no longer binary");
    }

    [Fact]
    public void Same_seed_epoch_and_batch_give_the_same_augmentation_and_off_is_identity()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var x = (rand(3, 1, 32, 32, generator: generator) - 0.5) / 0.25; // pixels in [0, 1], normalised
        var augmenter = new Augmenter(new AugmentOptions(), Spec, seed: 4);

        var first = augmenter.Apply(x, null, epoch: 2, batch: 7).Images;
        var again = augmenter.Apply(x, null, epoch: 2, batch: 7).Images;
        var other = augmenter.Apply(x, null, epoch: 3, batch: 7).Images;
        var none = new Augmenter(AugmentOptions.None, Spec, seed: 4).Apply(x, null, 2, 7).Images;

        Assert.Equal(0f, (first - again).abs().max().item<float>());
        Assert.True((first - other).abs().max().item<float>() > 0);
        Assert.True((none - x).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    public void Quarter_turn_alone_is_an_exact_rotation()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2);
        var x = randn(1, 1, 16, 16, generator: generator);
        var onlyTurns = AugmentOptions.None with { Rotate90 = true };
        var augmenter = new Augmenter(onlyTurns, Spec with { Width = 16, Height = 16 }, seed: 0);

        // Try seeds until a non-zero turn is drawn; it must equal one of torch's exact rot90 results.
        var rotations = Enumerable.Range(1, 3).Select(k => x.rot90(k, (2, 3))).ToList();
        var matched = Enumerable.Range(0, 20).Select(s => augmenter.Geometric(x, null, new Random(s)).Images)
            .Count(y => rotations.Any(r => (r - y).abs().max().item<float>() < 1e-4));

        Assert.True(matched > 0);
    }

    [Fact]
    public void Out_of_range_settings_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new Augmenter(new AugmentOptions { ZoomMin = 1.2, ZoomMax = 1.1 }, Spec, 0));
        Assert.Throws<ArgumentException>(() => new Augmenter(new AugmentOptions { Contrast = 1.5 }, Spec, 0));
    }
}
