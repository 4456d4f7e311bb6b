using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Losses;

/// <summary>
/// Weights of the segmentation loss terms: total = Bce·BCE + Dice·(1 − soft Dice) + Iou·(1 − soft IoU).
/// <see cref="PositiveWeight"/> scales the BCE of foreground pixels: above 1 it trades precision for recall.
/// </summary>
internal sealed record SegmentationLossWeights(double Bce = 1, double Dice = 1, double Iou = 0, double PositiveWeight = 1)
{
    /// <summary>Text form for reports and the manifest, e.g. <c>bce=1 dice=1 iou=0 pos_weight=1</c>.</summary>
    public override string ToString() => FormattableString.Invariant($"bce={Bce} dice={Dice} iou={Iou} pos_weight={PositiveWeight}");
}

/// <summary>
/// Losses on a batch of logit maps (N×1×H×W) against 0/1 targets of the same shape. Dice and IoU are soft (computed
/// on sigmoid probabilities), per image, then averaged, with a smoothing term of 1 so an image with an empty mask and
/// an empty prediction costs nothing.
/// </summary>
internal static class SegmentationLoss
{
    private const double Smooth = 1.0;

    /// <summary>Upper bound of the derived positive weight: past it BCE would paint whole images.</summary>
    public const double MaxPositiveWeight = 50;

    /// <summary>
    /// The foreground weight for masks whose defects are rare: √(background / foreground), between 1 and
    /// <see cref="MaxPositiveWeight"/> (≈ 10 when defects cover 1% of the pixels). The full ratio (99 there) makes the
    /// model mark too much; √ balances the BCE gradient of the two classes halfway, and the Dice term does the rest.
    /// Returns the weight and the foreground fraction.
    /// </summary>
    public static (double Weight, double Fraction) DerivePositiveWeight(IEnumerable<OpenCvSharp.Mat> masks)
    {
        long foreground = 0, total = 0;
        foreach (var mask in masks)
        {
            foreground += OpenCvSharp.Cv2.CountNonZero(mask);
            total += mask.Total();
        }

        var fraction = total == 0 ? 0 : (double)foreground / total;
        var weight = fraction <= 0 ? MaxPositiveWeight : Math.Clamp(Math.Sqrt((1 - fraction) / fraction), 1, MaxPositiveWeight);
        return (weight, fraction);
    }

    /// <summary>Mean binary cross-entropy over all pixels; foreground pixels weighted by <paramref name="positiveWeight"/>.</summary>
    public static Tensor Bce(Tensor logits, Tensor targets, double positiveWeight = 1)
    {
        // −[w·t·log σ(x) + (1 − t)·log(1 − σ(x))] = w·t·softplus(−x) + (1 − t)·softplus(x), stable for large |x|.
        using var scope = NewDisposeScope();
        var loss = (positiveWeight * targets * nn.functional.softplus(-logits)) + ((1 - targets) * nn.functional.softplus(logits));
        return loss.mean().MoveToOuterDisposeScope();
    }

    /// <summary>1 − soft Dice, averaged over the images.</summary>
    public static Tensor Dice(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var (intersection, sums) = Overlap(logits, targets);
        var dice = ((2 * intersection) + Smooth) / (sums + Smooth);
        return (1 - dice.mean()).MoveToOuterDisposeScope();
    }

    /// <summary>1 − soft IoU (Jaccard), averaged over the images.</summary>
    public static Tensor Iou(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var (intersection, sums) = Overlap(logits, targets);
        var iou = (intersection + Smooth) / (sums - intersection + Smooth);
        return (1 - iou.mean()).MoveToOuterDisposeScope();
    }

    /// <summary>The weighted sum of the terms with a non-zero weight.</summary>
    public static Tensor Combined(Tensor logits, Tensor targets, SegmentationLossWeights weights)
    {
        using var scope = NewDisposeScope();
        var total = zeros(1, device: logits.device).squeeze();
        if (weights.Bce != 0)
        {
            total += weights.Bce * Bce(logits, targets, weights.PositiveWeight);
        }

        if (weights.Dice != 0)
        {
            total += weights.Dice * Dice(logits, targets);
        }

        if (weights.Iou != 0)
        {
            total += weights.Iou * Iou(logits, targets);
        }

        return total.MoveToOuterDisposeScope();
    }

    // Per image: Σ p·t and Σ p + Σ t.
    private static (Tensor Intersection, Tensor Sums) Overlap(Tensor logits, Tensor targets)
    {
        var probabilities = logits.sigmoid().flatten(1);
        var truth = targets.flatten(1);
        return ((probabilities * truth).sum(1), probabilities.sum(1) + truth.sum(1));
    }
}
