using System.Diagnostics;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Losses;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Segmentation;

/// <summary>How the segmenter is trained.</summary>
public sealed record SegmenterOptions
{
    /// <summary>Square input size; a multiple of 32.</summary>
    public int ImageSize { get; init; } = 256;

    /// <summary>Width multiplier of encoder and decoder.</summary>
    public double WidthMultiplier { get; init; } = 0.35;

    /// <summary>Training epochs.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Peak learning rate (AdamW, cosine decay to 5% of it).</summary>
    public double LearningRate { get; init; } = 3e-3;

    /// <summary>AdamW weight decay.</summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>Loss terms and the positive-pixel weight.</summary>
    public SegmentationLossWeights Loss { get; init; } = new();

    /// <summary>Epochs at the start during which the encoder is frozen (only when starting from a previous package).</summary>
    public int FreezeEncoderEpochs { get; init; } = 2;

    /// <summary>Seed of initialisation, shuffling and augmentation.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>
    /// Augmentation of training batches: geometric transforms move image and mask together, photometric ones touch the
    /// image only. <see cref="AugmentOptions.None"/> switches it off.
    /// </summary>
    public AugmentOptions Augmentation { get; init; } = new();
}

/// <summary>One epoch's figures.</summary>
/// <param name="Epoch">Epoch number from 1.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="ValidationLoss">Mean validation loss.</param>
/// <param name="ValidationIou">Pooled validation IoU at probability 0.5.</param>
/// <param name="ImagesPerSecond">Training throughput of the epoch (forward, backward, step, augmentation, preprocessing).</param>
/// <param name="EncoderFrozen">Whether the encoder was frozen.</param>
public sealed record SegmenterEpoch(int Epoch, double TrainLoss, double ValidationLoss, double ValidationIou, double ImagesPerSecond, bool EncoderFrozen);

/// <summary>The trained network (best validation epoch) and its history.</summary>
public sealed record SegmenterTraining(UNetMobileNetV2 Model, InputSpec Input, IReadOnlyList<SegmenterEpoch> History, int BestEpoch)
{
    /// <summary>Mean training throughput over all epochs.</summary>
    public double ImagesPerSecond => History.Count == 0 ? 0 : History.Average(h => h.ImagesPerSecond);
}

/// <summary>
/// Trains <see cref="UNetMobileNetV2"/> on a <see cref="SegmentationDataset"/>: AdamW with cosine decay, the weighted
/// BCE/Dice/IoU loss, joint augmentation of image and mask, validation after every epoch, and the weights of the best
/// validation IoU kept. When starting from a previous package the encoder is frozen for the first epochs.
/// </summary>
public static class SegmenterTrainer
{
    /// <summary>
    /// Input spec for a dataset: size, channels, and mean/std measured on the training images; when continuing from a
    /// package its normalisation is kept, since its weights expect it.
    /// </summary>
    public static InputSpec InputSpecFor(SegmentationDataset data, int imageSize, ModelPackage? init)
    {
        UNetMobileNetV2.CheckInputSize(imageSize, imageSize);
        if (init is not null)
        {
            return init.Manifest.Input with { Width = imageSize, Height = imageSize };
        }

        var channels = data.Channels;
        var sum = new double[channels];
        var squares = new double[channels];
        long pixels = 0;
        foreach (var sample in data.In(Splits.Train))
        {
            Cv2.MeanStdDev(sample.Image, out var m, out var s);
            for (var c = 0; c < channels; c++)
            {
                sum[c] += m[c];
                squares[c] += (s[c] * s[c]) + (m[c] * m[c]);
            }

            pixels++;
        }

        // Channel order: the preprocessor turns OpenCV's BGR into RGB, so reverse the measured means.
        var means = sum.Select(v => (float)(v / Math.Max(1, pixels) / 255)).ToArray();
        var stds = squares.Select((q, c) => (float)Math.Max(0.02, Math.Sqrt(Math.Max(0, (q / Math.Max(1, pixels)) - Math.Pow(sum[c] / Math.Max(1, pixels), 2))) / 255)).ToArray();
        if (channels == 3)
        {
            Array.Reverse(means);
            Array.Reverse(stds);
        }

        return new InputSpec
        {
            Width = imageSize,
            Height = imageSize,
            Channels = channels,
            Colour = channels == 1 ? "grey" : "rgb",
            Mean = means,
            Std = stds,
            Resize = "stretch",
        };
    }

    /// <summary>Trains and returns the best-validation model (in eval mode).</summary>
    /// <param name="data">Dataset; its samples must be at <see cref="SegmenterOptions.ImageSize"/>.</param>
    /// <param name="options">Training settings.</param>
    /// <param name="initialWeights">Package to start from (its weights), or null for a fresh network.</param>
    /// <param name="progress">Steps and epoch lines.</param>
    public static SegmenterTraining Train(SegmentationDataset data, SegmenterOptions options, ModelPackage? initialWeights, ITrainingProgress progress)
    {
        var train = data.In(Splits.Train);
        var validation = data.In(Splits.Validation);
        if (train.Count == 0)
        {
            throw new ArgumentException("the training split is empty");
        }

        if (validation.Count == 0)
        {
            throw new ArgumentException("the validation split is empty; the threshold and the best epoch are chosen on it");
        }

        random.manual_seed(options.Seed);
        var input = InputSpecFor(data, options.ImageSize, initialWeights);
        var model = new UNetMobileNetV2(input.Channels, options.WidthMultiplier);
        if (initialWeights is not null)
        {
            Packaging.ModelPackageWriter.LoadWeights(model, initialWeights);
        }

        var freezeEpochs = initialWeights is null ? 0 : options.FreezeEncoderEpochs;
        using var batcher = new SegmentationBatch(input);
        var augmenter = new Augmenter(options.Augmentation, input, options.Seed);
        using var optimizer = optim.AdamW(model.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        var history = new List<SegmenterEpoch>();
        var shuffle = new Random(options.Seed);
        var best = (Iou: double.NegativeInfinity, Epoch: 0, State: (Dictionary<string, Tensor>?)null);
        var stepsPerEpoch = (int)Math.Ceiling(train.Count / (double)options.BatchSize);
        var steps = (long)options.Epochs * stepsPerEpoch;
        long step = 0;
        progress.Message(FormattableString.Invariant(
            $"segmenter: U-Net/MobileNetV2 x{options.WidthMultiplier} {options.ImageSize}x{options.ImageSize}x{input.Channels}, {model.parameters().Sum(p => p.numel()):N0} parameters; {train.Count} training, {validation.Count} validation images; {options.Epochs} epochs, batch {options.BatchSize}, loss {options.Loss}"));

        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var frozen = epoch <= freezeEpochs;
            model.train();
            model.FreezeEncoder(frozen);
            var order = train.ToArray();
            shuffle.Shuffle(order);
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            for (int start = 0, batchIndex = 0; start < order.Length; start += options.BatchSize, batchIndex++)
            {
                var batch = order.Skip(start).Take(options.BatchSize).ToList();
                if (batch.Count < 2 && order.Length >= 2)
                {
                    continue; // batch norm needs more than one sample per batch
                }

                SetLearningRate(optimizer, options.LearningRate, step++, steps);
                var loss = Step(model, optimizer, batcher, augmenter, batch, options, epoch, batchIndex);
                lossSum += loss * batch.Count;
                progress.Step(epoch, options.Epochs, batchIndex + 1, stepsPerEpoch, loss);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            var (validationLoss, validationIou) = Validate(model, batcher, validation, options);
            history.Add(new SegmenterEpoch(epoch, lossSum / order.Length, validationLoss, validationIou, order.Length / seconds, frozen));
            var improved = validationIou > best.Iou;
            if (improved)
            {
                DisposeState(best.State);
                best = (validationIou, epoch, model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
            }

            progress.Message(FormattableString.Invariant(
                $"epoch {epoch,3}/{options.Epochs}  train loss {lossSum / order.Length:F4}  val loss {validationLoss:F4}  val IoU@0.5 {validationIou:F4}{(improved ? " *" : "  ")}  {order.Length / seconds,6:F1} img/s{(frozen ? "  (encoder frozen)" : "")}"));
        }

        model.load_state_dict(best.State!);
        DisposeState(best.State);
        model.eval();
        return new SegmenterTraining(model, input, history, best.Epoch);
    }

    private static double Step(UNetMobileNetV2 model, optim.Optimizer optimizer, SegmentationBatch batcher, Augmenter augmenter,
        List<SegmentationSample> batch, SegmenterOptions options, int epoch, int batchIndex)
    {
        using var noCollection = NoCollection.Enter();
        using var scope = NewDisposeScope();
        var x = batcher.Inputs(batch.Select(s => s.Image).ToList());
        var y = batcher.Targets(batch.Select(s => s.Mask).ToList());
        var (images, masks) = augmenter.Apply(x, y, epoch, batchIndex);
        optimizer.zero_grad();
        var loss = SegmentationLoss.Combined(model.forward(images), masks!, options.Loss);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }

    private static (double Loss, double Iou) Validate(UNetMobileNetV2 model, SegmentationBatch batcher, IReadOnlyList<SegmentationSample> validation, SegmenterOptions options)
    {
        model.eval();
        using var noGrad = no_grad();
        double lossSum = 0;
        long intersection = 0, union = 0;
        for (var start = 0; start < validation.Count; start += options.BatchSize)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = validation.Skip(start).Take(options.BatchSize).ToList();
            var logits = model.forward(batcher.Inputs(batch.Select(s => s.Image).ToList()));
            var y = batcher.Targets(batch.Select(s => s.Mask).ToList());
            lossSum += SegmentationLoss.Combined(logits, y, options.Loss).item<float>() * batch.Count;
            var predicted = logits.ge(0);
            var truth = y.gt(0.5);
            intersection += predicted.logical_and(truth).sum().item<long>();
            union += predicted.logical_or(truth).sum().item<long>();
        }

        return (lossSum / validation.Count, union == 0 ? 1 : (double)intersection / union);
    }

    // Cosine decay from the peak to 5% of it over all steps, after a short linear warm-up.
    private static void SetLearningRate(optim.Optimizer optimizer, double peak, long step, long steps)
    {
        var warmup = Math.Min(50, steps / 10);
        var rate = step < warmup
            ? peak * (step + 1) / warmup
            : peak * (0.05 + (0.95 * 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / Math.Max(1, steps - warmup)))));
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = rate;
        }
    }

    private static void DisposeState(Dictionary<string, Tensor>? state)
    {
        foreach (var tensor in state?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }
    }
}
