using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Losses;
using Inspection.Trainer.Models;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Training;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Segmenter;

/// <summary>How the segmenter is trained.</summary>
internal sealed record SegmenterOptions
{
    /// <summary>The segmenter's optimisation defaults: AdamW, batch 8, peak 3e-3, cosine decay to 5% of it, no early stop.</summary>
    public static TrainingOptions DefaultTraining { get; } = new()
    {
        Epochs = 20,
        BatchSize = 8,
        Optimizer = "adamw",
        LearningRate = 3e-3,
        WeightDecay = 1e-4,
        MinLearningRateFraction = 0.05,
        Patience = 0,
    };

    /// <summary><see cref="Architectures.SegmenterNames"/>: the U-Net's encoder.</summary>
    public string Arch { get; init; } = Architectures.UNetResNet18;

    /// <summary><c>imagenet</c>, <c>none</c>, or null: imagenet for unet-resnet18, none otherwise.</summary>
    public string? Pretrained { get; init; }

    /// <summary>Square input size; a multiple of 32.</summary>
    public int ImageSize { get; init; } = 256;

    /// <summary>Width multiplier of encoder and decoder.</summary>
    public double WidthMultiplier { get; init; } = 0.35;

    /// <summary>Optimisation (the shared <see cref="TrainingLoop"/>'s settings; the seed also picks the split).</summary>
    public TrainingOptions Training { get; init; } = DefaultTraining;

    /// <summary>Loss terms and the positive-pixel weight.</summary>
    public SegmentationLossWeights Loss { get; init; } = new();

    /// <summary>Replace <see cref="SegmentationLossWeights.PositiveWeight"/> by the one the training masks call for (<see cref="SegmentationLoss.DerivePositiveWeight"/>).</summary>
    public bool PositiveWeightFromMasks { get; init; } = true;

    /// <summary>Epochs at the start during which the encoder is frozen (only when starting from a previous package).</summary>
    public int FreezeEncoderEpochs { get; init; } = 2;

    /// <summary>
    /// Augmentation of training batches: geometric transforms move image and mask together, photometric ones touch the
    /// image only. <see cref="AugmentOptions.None"/> switches it off.
    /// </summary>
    public AugmentOptions Augmentation { get; init; } = new();

    /// <summary>
    /// Throws on a choice that cannot train (unknown architecture, pretrained weights it has none of, an input size the
    /// U-Net cannot halve five times, bad optimisation settings), before any data is read or any folder is written.
    /// </summary>
    public void Validate()
    {
        Training.Validate();
        if (!Architectures.SegmenterNames.Contains(Arch))
        {
            throw new ArgumentException($"unknown segmenter architecture '{Arch}' (known: {string.Join(", ", Architectures.SegmenterNames)})");
        }

        Pretraining.Resolve(Arch, Pretrained, Architectures.UNetResNet18);
        UNet.CheckInputSize(ImageSize, ImageSize);
    }
}

/// <summary>The trained network (best validation epoch), its history and the loss it was trained with.</summary>
/// <param name="Model">The network, with the best epoch's weights.</param>
/// <param name="Input">Its input spec.</param>
/// <param name="History">Epoch records.</param>
/// <param name="BestEpoch">The epoch kept.</param>
/// <param name="ImagesPerSecond">Training throughput over all steps.</param>
/// <param name="Loss">The loss weights it was trained with.</param>
/// <param name="LearningRate">The peak learning rate used (given, or found with <c>--lr auto</c>).</param>
/// <param name="Search">The learning-rate sweep of <c>--lr auto</c> (null without it, or when resumed after it).</param>
/// <param name="Averaged">With <c>--average-last</c>: the epochs whose average the model holds, when it validated better than <paramref name="BestEpoch"/>.</param>
internal sealed record SegmenterTraining(UNet Model, InputSpec Input, IReadOnlyList<EpochRecord> History, int BestEpoch, double ImagesPerSecond,
    SegmentationLossWeights Loss, double LearningRate, LrFindResult? Search, EpochAverage? Averaged);

/// <summary>
/// The segmenter's part of <see cref="TrainingLoop"/>: <see cref="UNet"/> with the weighted BCE/Dice/IoU loss
/// on jointly augmented image and mask batches; validation loss, pixel recall/precision and pooled IoU at probability
/// 0.5 (the IoU picks the kept epoch). When starting from a previous package the encoder is frozen for the first epochs.
/// </summary>
internal sealed class SegmenterTask : ITrainingTask, IDisposable
{
    private readonly IReadOnlyList<SegmentationSample> _train;
    private readonly IReadOnlyList<SegmentationSample> _validation;
    private readonly SegmenterOptions _options;
    private readonly SegmentationBatch _batcher;
    private readonly Augmenter _augmenter;

    private SegmenterTask(UNet model, InputSpec input, SegmentationDataset data, SegmenterOptions options, bool fromPackage, bool pretrained)
    {
        Model = model;
        Input = input;
        _train = data.In(Splits.Train);
        _validation = data.In(Splits.Validation);
        _options = options;
        _batcher = new SegmentationBatch(input);
        _augmenter = new Augmenter(options.Augmentation, input, options.Training.Seed);
        var (encoder, decoder) = ParameterGroup.Split(model, model.Encoder, "encoder", "decoder");
        // A pretrained encoder waits one epoch for the random decoder, then trains at a tenth of the learning rate.
        ParameterGroups =
        [
            fromPackage ? encoder with { FrozenEpochs = options.FreezeEncoderEpochs }
            : pretrained ? encoder with { FrozenEpochs = Math.Min(Pretraining.HeadEpochs, options.Training.Epochs - 1), LearningRateFactor = Pretraining.BackboneFactor }
            : encoder,
            decoder,
        ];
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP002:Dispose member", Justification = "The model outlives the task: Train hands it to its result, whose owner disposes it.")]
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>The input spec the network is trained for.</summary>
    public InputSpec Input { get; }

    /// <inheritdoc />
    public IReadOnlyList<ParameterGroup> ParameterGroups { get; }

    /// <inheritdoc />
    public int TrainCount => _train.Count;

    /// <summary>
    /// Input spec for a dataset: size, channels, and mean/std measured on the training images; when continuing from a
    /// package its normalisation is kept, since its weights expect it.
    /// </summary>
    public static InputSpec InputSpecFor(SegmentationDataset data, int imageSize, ModelPackage? init, bool pretrained = false)
    {
        UNet.CheckInputSize(imageSize, imageSize);
        if (init is not null)
        {
            return init.Manifest.Input with { Width = imageSize, Height = imageSize };
        }

        if (pretrained)
        {
            return ImageNetResNet18.InputSpecFor(data.Channels, imageSize, imageSize, "stretch");
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

    /// <summary>
    /// Builds the network (from <paramref name="initialWeights"/> when given, else seeded from the options) for
    /// <paramref name="data"/>, whose samples must be at <see cref="SegmenterOptions.ImageSize"/>.
    /// </summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The new model is handed to the task it returns.")]
    public static SegmenterTask Create(SegmentationDataset data, SegmenterOptions options, ModelPackage? initialWeights)
    {
        if (data.In(Splits.Train).Count == 0)
        {
            throw new ArgumentException("the training split is empty");
        }

        if (data.In(Splits.Validation).Count == 0)
        {
            throw new ArgumentException("the validation split is empty; the threshold and the best epoch are chosen on it");
        }

        var pretrained = Pretraining.Resolve(options.Arch, options.Pretrained, Architectures.UNetResNet18);
        if (initialWeights is not null && initialWeights.Manifest.Arch != options.Arch)
        {
            throw new ModelPackageException($"{initialWeights.Directory}: is a {initialWeights.Manifest.Arch}; this run trains a {options.Arch} (pass --arch {initialWeights.Manifest.Arch}, or --init scratch)");
        }

        random.manual_seed(options.Training.Seed);
        var input = InputSpecFor(data, options.ImageSize, initialWeights, pretrained);
        UNet model;
        using (NoCollection.Enter())
        {
            model = new UNet(input.Channels, options.WidthMultiplier, options.Arch); // weight init runs TorchSharp calls with temporary Scalars
        }

        if (initialWeights is not null)
        {
            Packaging.ModelPackageWriter.LoadWeights(model, initialWeights);
        }
        else if (pretrained)
        {
            ImageNetResNet18.Load((ResNet18Encoder)model.Encoder, input);
        }

        return new SegmenterTask(model, input, data, options, initialWeights is not null, pretrained && initialWeights is null);
    }

    /// <summary>The options with the BCE positive weight derived from the training masks, when asked (and said).</summary>
    public static SegmenterOptions WithLossFromMasks(SegmentationDataset data, SegmenterOptions options, ITrainingProgress progress)
    {
        if (!options.PositiveWeightFromMasks)
        {
            return options;
        }

        var (weight, fraction) = SegmentationLoss.DerivePositiveWeight(data.In(Splits.Train).Select(s => s.Mask));
        progress.Message(FormattableString.Invariant($"loss: foreground pixels {fraction:P2} of the training masks -> BCE pos_weight {weight:F2} = sqrt(background/foreground), at most {SegmentationLoss.MaxPositiveWeight}"));
        return options with { Loss = options.Loss with { PositiveWeight = weight } };
    }

    /// <summary>Trains with <see cref="TrainingLoop"/> and returns the best-validation model (in eval mode).</summary>
    public static SegmenterTraining Train(SegmentationDataset data, SegmenterOptions options, ModelPackage? initialWeights, ITrainingProgress progress,
        string checkpointDirectory, bool resume)
    {
        options = WithLossFromMasks(data, options, progress);
        using var task = Create(data, options, initialWeights);
        var model = (UNet)task.Model;
        var o = options.Training;
        var init = initialWeights is not null ? $"weights of package {initialWeights.Manifest.Version}" : model.Encoder is ResNet18Encoder && Pretraining.Resolve(options.Arch, options.Pretrained, Architectures.UNetResNet18) ? $"ImageNet ResNet-18 encoder ({Pretraining.Source})" : "from scratch";
        progress.Message(FormattableString.Invariant(
            $"segmenter: {options.Arch} x{options.WidthMultiplier} {options.ImageSize}x{options.ImageSize}x{task.Input.Channels}, {model.parameters().Sum(p => p.numel()):N0} parameters, init {init}; {task.TrainCount} training, {task._validation.Count} validation images; {o.Epochs} epochs, batch {o.BatchSize}, loss {options.Loss}"));
        var result = new TrainingLoop(o, progress).Train(task, checkpointDirectory, resume);
        return new SegmenterTraining(model, task.Input, result.History, result.BestEpoch, result.ImagesPerSecond, options.Loss, result.LearningRate, result.Search, result.Averaged);
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.CallerScope)]
    public Tensor Loss(int[] batch, int epoch, int step)
    {
        var samples = batch.Select(i => _train[i]).ToList();
        var x = _batcher.Inputs(samples.Select(s => s.Image).ToList());
        var y = _batcher.Targets(samples.Select(s => s.Mask).ToList());
        var (images, masks) = _augmenter.Apply(x, y, epoch, step);
        return SegmentationLoss.Combined(Model.forward(images), masks!, _options.Loss);
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public ValidationFigures Validate()
    {
        Model.eval();
        using var noGrad = no_grad();
        double lossSum = 0;
        long intersection = 0, union = 0, truePixels = 0, predictedPixels = 0;
        var batchSize = _options.Training.BatchSize;
        for (var start = 0; start < _validation.Count; start += batchSize)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = _validation.Skip(start).Take(batchSize).ToList();
            var logits = Model.forward(_batcher.Inputs(batch.Select(s => s.Image).ToList()));
            var y = _batcher.Targets(batch.Select(s => s.Mask).ToList());
            lossSum += SegmentationLoss.Combined(logits, y, _options.Loss).item<float>() * batch.Count;
            var predicted = logits.ge(0);
            var truth = y.gt(0.5);
            intersection += predicted.logical_and(truth).sum().item<long>();
            union += predicted.logical_or(truth).sum().item<long>();
            truePixels += truth.sum().item<long>();
            predictedPixels += predicted.sum().item<long>();
        }

        var iou = union == 0 ? 1 : (double)intersection / union;
        return new ValidationFigures(lossSum / _validation.Count, truePixels == 0 ? 1 : (double)intersection / truePixels,
            predictedPixels == 0 ? 1 : (double)intersection / predictedPixels, new Dictionary<string, double> { ["IoU"] = iou }, "IoU");
    }

    /// <inheritdoc />
    public void Dispose() => _batcher.Dispose();
}
