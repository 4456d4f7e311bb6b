using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Losses;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Segmentation;

public sealed class SegmentationLossAndMetricTests
{
    private static readonly double Ln2 = Math.Log(2);

    // One 2x2 image: logits 0 everywhere (p = 0.5), truth on the diagonal.
    private static (Tensor Logits, Tensor Targets) Halves() =>
        (zeros(1, 1, 2, 2), tensor(new float[] { 1, 0, 0, 1 }).reshape(1, 1, 2, 2));

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Bce_dice_and_iou_match_hand_computed_values()
    {
        using var scope = NewDisposeScope();
        var (logits, targets) = Halves();

        Assert.Equal(Ln2, SegmentationLoss.Bce(logits, targets).item<float>(), 5);
        Assert.Equal(2 * Ln2, SegmentationLoss.Bce(logits, targets, positiveWeight: 3).item<float>(), 5); // (3·2 + 2)·ln2 / 4
        Assert.Equal(1 - (3.0 / 5), SegmentationLoss.Dice(logits, targets).item<float>(), 5);        // (2·1 + 1) / (4 + 1)
        Assert.Equal(1 - (2.0 / 4), SegmentationLoss.Iou(logits, targets).item<float>(), 5);         // (1 + 1) / (4 − 1 + 1)
        var weights = new SegmentationLossWeights(Bce: 1, Dice: 2, Iou: 0.5);
        Assert.Equal(Ln2 + 0.8 + 0.25, SegmentationLoss.Combined(logits, targets, weights).item<float>(), 5);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Confident_correct_predictions_cost_almost_nothing_and_wrong_ones_a_lot()
    {
        using var scope = NewDisposeScope();
        var targets = tensor(new float[] { 1, 0, 0, 1 }).reshape(1, 1, 2, 2);
        var right = (targets * 40) - 20;
        var wrong = 20 - (targets * 40);

        Assert.True(SegmentationLoss.Combined(right, targets, new SegmentationLossWeights(1, 1, 1)).item<float>() < 1e-6);
        Assert.True(SegmentationLoss.Bce(wrong, targets).item<float>() > 19);
        Assert.Equal(1 - (1.0 / 5), SegmentationLoss.Dice(wrong, targets).item<float>(), 3); // only the smoothing term left
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void Dice_is_averaged_per_image_and_an_empty_image_predicted_empty_costs_nothing()
    {
        using var scope = NewDisposeScope();
        var empty = full(1, 1, 2, 2, -30f);
        var (half, halfTargets) = Halves();
        var logits = cat([empty, half], 0);
        var targets = cat([zeros(1, 1, 2, 2), halfTargets], 0);

        Assert.Equal(0, SegmentationLoss.Dice(empty, zeros(1, 1, 2, 2)).item<float>(), 5);
        Assert.Equal((0 + 0.4) / 2, SegmentationLoss.Dice(logits, targets).item<float>(), 5);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public void The_positive_weight_makes_missed_foreground_pull_harder()
    {
        using var scope = NewDisposeScope();
        var plain = zeros(1, 1, 2, 2, requires_grad: true);
        var weighted = zeros(1, 1, 2, 2, requires_grad: true);
        var (_, targets) = Halves();

        SegmentationLoss.Bce(plain, targets).backward();
        SegmentationLoss.Bce(weighted, targets, positiveWeight: 4).backward();

        // d/dx of −t·w·log σ(x) at x = 0 is −w/2 per pixel, over 4 pixels.
        Assert.Equal(-0.5 / 4, plain.grad!.data<float>()[0], 5);
        Assert.Equal(-2.0 / 4, weighted.grad!.data<float>()[0], 5);
        Assert.Equal(plain.grad!.data<float>()[1], weighted.grad!.data<float>()[1], 6);
    }

    [Fact]
    public void Pixel_counts_give_iou_dice_precision_and_recall()
    {
        float[] probabilities = [0.9f, 0.8f, 0.2f, 0.6f, 0.1f, 0.5f];
        byte[] truth = [1, 1, 1, 0, 0, 0];

        var counts = PixelCounts.Count(probabilities, truth, 0.5f);

        Assert.Equal(new PixelCounts(2, 2, 1, 1), counts);
        Assert.Equal(2.0 / 5, counts.Iou, 9);
        Assert.Equal(4.0 / 7, counts.Dice, 9);
        Assert.Equal(0.5, counts.Precision, 9);
        Assert.Equal(2.0 / 3, counts.Recall, 9);
    }

    [Fact]
    public void Set_metrics_pool_pixels_and_average_images()
    {
        var perfectEmpty = new PixelCounts(0, 0, 0, 100);
        var half = new PixelCounts(10, 10, 0, 80);

        var metrics = SegmentationMetrics.From(0.5, [perfectEmpty, half]);

        Assert.Equal(1, perfectEmpty.Iou);
        Assert.Equal(0.5, metrics.Iou, 9);
        Assert.Equal(0.75, metrics.MeanImageIou, 9);
        Assert.Equal(1, metrics.PixelRecall, 9);
        Assert.Equal(0.5, metrics.PixelPrecision, 9);
        Assert.Equal(10, metrics.Positives);
        Assert.Equal(0.5, metrics.ToDictionary()["threshold"]);
    }

    [Fact]
    public void Thresholds_are_chosen_for_best_iou_or_for_a_recall_target()
    {
        // 100 foreground pixels: 90 at 0.8, 10 at 0.35. 100 background: 75 at 0.1, 25 at 0.4.
        var probabilities = Enumerable.Repeat(0.8f, 90).Concat(Enumerable.Repeat(0.35f, 10))
            .Concat(Enumerable.Repeat(0.1f, 75)).Concat(Enumerable.Repeat(0.4f, 25)).ToArray();
        var truth = Enumerable.Repeat((byte)1, 100).Concat(Enumerable.Repeat((byte)0, 100)).ToArray();
        var thresholds = new PixelThresholds();
        thresholds.Add(probabilities, truth);

        var best = thresholds.BestIou();
        var forRecall = thresholds.ForRecall(0.95)!;

        // Above 0.4 and up to 0.8: TP 90, FP 0, FN 10 → IoU 0.9 (at 0.35: 100/125); ties go to the higher threshold.
        Assert.Equal(0.8, best.Threshold, 9);
        Assert.Equal(0.9, best.Counts.Iou, 9);
        // Recall 0.95 needs the 0.35 pixels: the highest threshold keeping them is 0.35.
        Assert.Equal(0.35, forRecall.Threshold, 9);
        Assert.Equal(1.0, forRecall.Counts.Recall, 9);
        Assert.Equal(new PixelCounts(100, 25, 0, 75), forRecall.Counts);
        Assert.Equal(PixelCounts.Count(probabilities, truth, 0.35f), forRecall.Counts);
    }

    [Fact]
    public void An_unreachable_recall_target_gives_no_threshold()
    {
        var thresholds = new PixelThresholds();
        thresholds.Add([0.0f, 0.9f], [1, 1]);

        Assert.Null(thresholds.ForRecall(1.0));
        Assert.NotNull(thresholds.ForRecall(0.5));
    }
}
