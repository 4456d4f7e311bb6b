using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Segmentation;

public sealed class JointAugmentationTests
{
    private static readonly InputSpec Spec = new() { Width = 32, Height = 32, Channels = 1, Mean = [0.5f], Std = [0.25f] };

    // An asymmetric shape (an L and a dot) so every flip and turn gives a different picture; the mask is the shape.
    private static (Mat Image, Mat Mask) Shape()
    {
        var image = new Mat(32, 32, MatType.CV_8UC1, Scalar.All(20));
        Cv2.Rectangle(image, new Rect(4, 3, 5, 20), Scalar.All(230), -1);
        Cv2.Rectangle(image, new Rect(4, 18, 16, 5), Scalar.All(230), -1);
        Cv2.Rectangle(image, new Rect(25, 6, 2, 2), Scalar.All(230), -1);
        var mask = new Mat();
        Cv2.Threshold(image, mask, 128, 1, ThresholdTypes.Binary);
        return (image, mask);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Flips_and_quarter_turns_move_image_and_mask_together_pixel_exactly()
    {
        using var scope = NewDisposeScope();
        var (image, mask) = Shape();
        using (image)
        using (mask)
        using (var batcher = new SegmentationBatch(Spec))
        {
            var images = Enumerable.Repeat(image, 16).ToList();
            var masks = Enumerable.Repeat(mask, 16).ToList();
            var x = batcher.Inputs(images);
            var y = batcher.Targets(masks);
            var geometricOnly = AugmentOptions.None with { HorizontalFlip = true, VerticalFlip = true, Rotate90 = true };
            var augmenter = new Augmenter(geometricOnly, Spec, seed: 5);

            var (augmented, augmentedMasks) = augmenter.Apply(x, y, epoch: 1, batch: 0);

            // Bright pixels of the moved image are exactly the moved mask's foreground, in every sample.
            var fromImage = augmented.gt(0).to_type(ScalarType.Float32);
            Assert.True(fromImage.eq(augmentedMasks!).all().item<bool>(), "mask and image disagree after a flip or turn");
            Assert.Equal(y.sum().item<float>(), augmentedMasks!.sum().item<float>()); // turns and flips neither add nor drop pixels
            var distinct = Enumerable.Range(0, 16).Select(i => string.Join(",", augmentedMasks[i].flatten().data<float>().ToArray())).Distinct().Count();
            Assert.True(distinct >= 4, $"only {distinct} different orientations in 16 samples");
        }
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    public void Photometric_changes_leave_the_mask_untouched()
    {
        using var scope = NewDisposeScope();
        var (image, mask) = Shape();
        using (image)
        using (mask)
        using (var batcher = new SegmentationBatch(Spec))
        {
            var x = batcher.Inputs([image, image]);
            var y = batcher.Targets([mask, mask]);
            var photometricOnly = AugmentOptions.None with { Brightness = 0.3, Contrast = 0.3, Noise = 0.05 };
            var augmenter = new Augmenter(photometricOnly, Spec, seed: 9);

            var (augmented, augmentedMasks) = augmenter.Apply(x, y, epoch: 2, batch: 3);

            Assert.True(augmentedMasks!.eq(y).all().item<bool>());
            Assert.False(augmented.eq(x).all().item<bool>(), "the image did not change");
        }
    }
}
