using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Classifier;

/// <summary>
/// The classifier's part of <see cref="TrainingLoop"/>: a one-logit network trained with recall-weighted binary
/// cross-entropy on augmented batches; validation loss, AUROC, AP (which picks the kept epoch) and recall/precision at
/// p = 0.5.
/// </summary>
internal sealed class ClassifierTask : ITrainingTask, IDisposable
{
    private readonly TensorSet _train;
    private readonly TensorSet _validation;
    private readonly Augmenter _augmenter;
    private readonly Tensor _posWeight;
    private readonly Device _device;
    private readonly int _batchSize;
    private readonly bool _softLabels;

    /// <summary>Creates the task; the model is moved to <paramref name="device"/>. Without <paramref name="groups"/> all parameters train alike.</summary>
    public ClassifierTask(nn.Module<Tensor, Tensor> model, TensorSet train, TensorSet validation, double posWeight, Augmenter augmenter, int batchSize, Device device,
        IReadOnlyList<ParameterGroup>? groups = null, bool softLabels = false)
    {
        _softLabels = softLabels;
        Model = model;
        _train = train;
        _validation = validation;
        _augmenter = augmenter;
        _batchSize = batchSize;
        _device = device;
        model.to(device);
        _posWeight = tensor(new[] { (float)posWeight }).to(device);
        ParameterGroups = groups ?? [ParameterGroup.Of("all", model)];
    }

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <inheritdoc />
    public IReadOnlyList<ParameterGroup> ParameterGroups { get; }

    /// <inheritdoc />
    public int TrainCount => _train.Count;

    /// <summary>Loss weight of defective samples: the class ratio (negatives / positives) times √(r / (1 − r)), the cost of a missed defect relative to a false alarm that the recall target r implies (≈10 at 0.99, 3 at 0.9, 1 at 0.5).</summary>
    public static double DerivePosWeight(int positives, int negatives, double recallTarget) =>
        (double)negatives / Math.Max(1, positives) * Math.Sqrt(recallTarget / (1 - recallTarget));

    /// <inheritdoc />
    public Tensor Loss(int[] batch, int epoch, int step)
    {
        var (x, y) = Batch(_train, batch);
        var (augmented, _) = _augmenter.Apply(x, null, epoch, step);
        var logits = Model.forward(augmented).reshape(-1);
        return nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: _posWeight);
    }

    /// <inheritdoc />
    public ValidationFigures Validate()
    {
        var (loss, scores) = Evaluate(_validation, withLoss: true);
        var labels = _validation.Images.Select(i => i.Defect).ToList();
        var at05 = Confusion.At(scores, labels, 0.5);
        var metrics = new Dictionary<string, double> { ["AUROC"] = Ranking.Auroc(scores, labels), ["AP"] = Ranking.AveragePrecision(scores, labels) };
        return new ValidationFigures(loss, at05.Recall, at05.Precision, metrics, "AP");
    }

    /// <summary>Probabilities for every image of a set (eval mode, no augmentation) and, when asked, the mean weighted loss.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public (double Loss, double[] Scores) Evaluate(TensorSet set, bool withLoss = false)
    {
        Model.eval();
        var scores = new double[set.Count];
        double lossSum = 0;
        using var noGrad = no_grad();
        for (var start = 0; start < set.Count; start += _batchSize)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = Enumerable.Range(start, Math.Min(_batchSize, set.Count - start)).ToArray();
            var (x, y) = Batch(set, batch);
            var logits = Model.forward(x).reshape(-1);
            if (withLoss)
            {
                lossSum += nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: _posWeight).item<float>() * batch.Length;
            }

            var logitValues = logits.cpu().data<float>().ToArray();
            for (var i = 0; i < batch.Length; i++)
            {
                scores[start + i] = 1 / (1 + Math.Exp(-logitValues[i]));
            }
        }

        return (lossSum / Math.Max(1, set.Count), scores);
    }

    /// <inheritdoc />
    public void Dispose() => _posWeight.Dispose();

    private (Tensor X, Tensor Y) Batch(TensorSet set, int[] indices)
    {
        var length = set.Tensors[0].Length;
        var data = new float[indices.Length * length];
        var labels = new float[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            set.Tensors[indices[i]].CopyTo(data, i * length);
            labels[i] = set.Images[indices[i]].Target(_softLabels);
        }

        var spec = set.Spec;
        return (tensor(data, [indices.Length, spec.Channels, spec.Height, spec.Width]).to(_device), tensor(labels).to(_device));
    }
}
