using System.Diagnostics;
using System.Text.Json;
using Inspection.Camera;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Training;

/// <summary>Optimisation settings of a classifier training run.</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs to run at most.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary><c>adam</c> or <c>sgd</c> (with momentum).</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary><c>cosine</c> (after a one-epoch linear warm-up), <c>step</c> (×0.1 at 60% and 85% of the epochs) or <c>constant</c>.</summary>
    public string Schedule { get; init; } = "cosine";

    /// <summary>Gradients are clipped to this global L2 norm.</summary>
    public double ClipNorm { get; init; } = 5.0;

    /// <summary>A gradient norm above this (before clipping) counts as exploding: the step is skipped.</summary>
    public double ExplodingNorm { get; init; } = 1e4;

    /// <summary>After this many bad steps in a row training stops.</summary>
    public int MaxBadSteps { get; init; } = 5;

    /// <summary>Stop after this many epochs without a better validation average precision (0 = never).</summary>
    public int Patience { get; init; } = 6;

    /// <summary>Positive-class weight of the loss; null derives it from the recall target and class balance.</summary>
    public double? PosWeight { get; init; }

    /// <summary>Seed of shuffling, augmentation and initialisation.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Pretrained backbone: epochs at the start that train the head alone (backbone frozen, batch norm statistics kept).</summary>
    public int FrozenBackboneEpochs { get; init; }

    /// <summary>Pretrained backbone: its learning rate relative to the head's once it trains.</summary>
    public double BackboneLearningRateFactor { get; init; } = 1;

    /// <summary>Train the head alone on cached backbone features (<see cref="HeadOnlyTraining"/>).</summary>
    public bool HeadOnly { get; init; }

    /// <summary>Head-only: feature passes over the training split (the first unaugmented, the others augmented).</summary>
    public int FeaturePasses { get; init; } = 4;

    /// <summary>Test hook: returns true for (epoch, step) whose loss should be replaced by NaN.</summary>
    public Func<int, int, bool>? InjectNonFiniteLoss { get; init; }
}

/// <summary>Figures of one epoch, as in <c>history.csv</c>.</summary>
public sealed record EpochRecord(
    int Epoch, double LearningRate, double TrainLoss, double ValidationLoss, double ValidationRecall, double ValidationPrecision,
    double ValidationAuroc, double ValidationAp, int SkippedSteps, double Seconds, double ImagesPerSecond);

/// <summary>Receives progress; the CLI shows it as a progress bar or JSON lines.</summary>
public interface ITrainingProgress
{
    /// <summary>A step finished.</summary>
    void Step(int epoch, int epochs, int step, int steps, double loss);

    /// <summary>An epoch finished (validation included).</summary>
    void Epoch(EpochRecord record, int epochs, bool best);

    /// <summary>Something worth a line of text.</summary>
    void Message(string text);
}

/// <summary>Training stopped because the loss or gradients kept being non-finite or exploding. No model is written.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// Trains a one-logit classifier with recall-weighted binary cross-entropy. Each epoch: shuffled, augmented mini-batches;
/// non-finite losses or exploding gradients skip the step and halve the learning rate (repeated ones stop the run);
/// then validation loss, AUROC, AP and recall/precision at p = 0.5. The weights of the epoch with the best validation AP
/// are kept. A checkpoint after every epoch makes <c>--resume</c> continue where a run stopped.
/// </summary>
public sealed class ClassifierTrainer
{
    private const string CheckpointModel = "model.bin";
    private const string CheckpointBest = "best.bin";
    private const string CheckpointOptimizer = "optimizer.bin";
    private const string CheckpointStateFile = "state.json";

    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TrainingOptions _options;
    private readonly Augmenter _augmenter;
    private readonly ITrainingProgress _progress;
    private readonly Device _device;

    /// <summary>Creates a trainer; the model is moved to <paramref name="device"/>.</summary>
    public ClassifierTrainer(nn.Module<Tensor, Tensor> model, TrainingOptions options, Augmenter augmenter, ITrainingProgress progress, Device device)
    {
        _model = model;
        _options = options;
        _augmenter = augmenter;
        _progress = progress;
        _device = device;
        _model.to(device);
    }

    /// <summary>Epoch records so far (also those restored from a checkpoint).</summary>
    public List<EpochRecord> History { get; private set; } = [];

    /// <summary>Epoch whose weights were kept.</summary>
    public int BestEpoch { get; private set; }

    /// <summary>Images per second over all training steps.</summary>
    public double ImagesPerSecond { get; private set; }

    /// <summary>Seconds spent in training steps.</summary>
    public double TrainSeconds { get; private set; }

    /// <summary>Loss weight of defective samples: the class ratio (negatives / positives) times √(r / (1 − r)), the cost of a missed defect relative to a false alarm that the recall target r implies (≈10 at 0.99, 3 at 0.9, 1 at 0.5).</summary>
    public static double DerivePosWeight(int positives, int negatives, double recallTarget) =>
        (double)negatives / Math.Max(1, positives) * Math.Sqrt(recallTarget / (1 - recallTarget));

    /// <summary>Runs training; <paramref name="checkpointDir"/> receives a checkpoint after every epoch and is read when <paramref name="resume"/>.</summary>
    public void Train(TensorSet train, TensorSet validation, double posWeight, string checkpointDir, bool resume)
    {
        if (_options.HeadOnly)
        {
            var model = _model as IHasBackbone ?? throw new ArgumentException("--head-only needs a network with a pretrained backbone (--arch resnet18)");
            var fit = HeadOnlyTraining.Fit(model, train, validation, posWeight, _options, _augmenter, _progress, _device);
            (History, BestEpoch, TrainSeconds, ImagesPerSecond) = (fit.History, fit.BestEpoch, fit.Seconds, fit.ImagesPerSecond);
            _model.eval();
            return;
        }

        Directory.CreateDirectory(checkpointDir);
        var backbone = (_model as IHasBackbone)?.Backbone.parameters().ToHashSet() ?? [];
        var groups = _model.parameters().GroupBy(p => backbone.Contains(p) ? _options.BackboneLearningRateFactor : 1.0).ToList();
        var factors = groups.Select(g => g.Key).ToArray();
        using var optimizer = _options.Optimizer switch
        {
            "adam" => (OptimizerHelper)optim.Adam(groups.Select(g => new Adam.ParamGroup(g, lr: _options.LearningRate * g.Key, weight_decay: _options.WeightDecay)), _options.LearningRate, weight_decay: _options.WeightDecay),
            "sgd" => optim.SGD(groups.Select(g => new SGD.ParamGroup(g, lr: _options.LearningRate * g.Key, momentum: _options.Momentum, weight_decay: _options.WeightDecay, nesterov: true)), _options.LearningRate, momentum: _options.Momentum, weight_decay: _options.WeightDecay, nesterov: true),
            _ => throw new ArgumentException($"unknown optimizer '{_options.Optimizer}' (use adam or sgd)"),
        };
        _progress.Message(FormattableString.Invariant(
            $"optimizer: {optimizer.GetType().Name}, peak lr {_options.LearningRate}, {_options.Schedule} schedule{(_options.Optimizer == "sgd" ? $", momentum {_options.Momentum} (Nesterov)" : "")}"));
        if (_model is IHasBackbone)
        {
            _progress.Message(FormattableString.Invariant(
                $"fine-tuning: head alone for {_options.FrozenBackboneEpochs} epoch(s) (backbone frozen), then the whole network with the backbone at {_options.BackboneLearningRateFactor} x the learning rate"));
        }

        var state = new CheckpointState();
        if (resume)
        {
            state = LoadCheckpoint(checkpointDir, optimizer);
            _progress.Message($"resumed from {checkpointDir} after epoch {state.Epoch} (best epoch {state.BestEpoch})");
        }

        History = state.History;
        BestEpoch = state.BestEpoch;
        using var posWeightTensor = tensor(new[] { (float)posWeight }).to(_device);
        // The last partial batch is dropped (as with drop_last): batch norm over a handful of samples gives wild
        // statistics and gradients that would trip the exploding-gradient guard.
        var steps = Math.Max(1, train.Count / _options.BatchSize);
        var stopwatch = new Stopwatch();
        var images = 0L;
        for (var epoch = state.Epoch + 1; epoch <= _options.Epochs; epoch++)
        {
            var epochStart = Stopwatch.GetTimestamp();
            _model.train();
            (_model as IHasBackbone)?.FreezeBackbone(epoch <= _options.FrozenBackboneEpochs);
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Random(StableSeed.Combine(_options.Seed, epoch)).Shuffle(order);
            double lossSum = 0;
            int lossCount = 0, skipped = 0, badInARow = 0;
            double lr = 0;
            var lastGood = Snapshot();
            for (var step = 0; step < steps; step++)
            {
                lr = LearningRate(epoch, step, steps) * state.LearningRateScale;
                var groupIndex = 0;
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = lr * factors[groupIndex++];
                }

                var batch = order.Skip(step * _options.BatchSize).Take(_options.BatchSize).ToArray();
                stopwatch.Start();
                var (ok, loss, why) = TrainStep(train, batch, epoch, step, optimizer, posWeightTensor);
                stopwatch.Stop();
                images += batch.Length;
                if (ok)
                {
                    lossSum += loss * batch.Length;
                    lossCount += batch.Length;
                    badInARow = 0;
                    _progress.Step(epoch, _options.Epochs, step + 1, steps, loss);
                    continue;
                }

                skipped++;
                badInARow++;
                state.LearningRateScale *= 0.5;
                if (!AllFinite())
                {
                    Restore(lastGood);
                }

                _progress.Message($"epoch {epoch} step {step + 1}: {why}; step skipped, learning rate halved to {lr * 0.5:G3}");
                if (badInARow >= _options.MaxBadSteps)
                {
                    throw new TrainingDivergedException(
                        $"training stopped: {badInARow} bad steps in a row (last: {why}) despite lowering the learning rate to {lr * 0.5:G3}. No model was written. " +
                        "Check the data for broken images, or lower --lr / --clip-norm, or use --init scratch");
                }
            }

            var (valLoss, valScores) = Evaluate(validation, posWeightTensor);
            var labels = validation.Images.Select(i => i.Defect).ToList();
            var at05 = Confusion.At(valScores, labels, 0.5);
            var ap = Ranking.AveragePrecision(valScores, labels);
            var seconds = Stopwatch.GetElapsedTime(epochStart).TotalSeconds;
            var record = new EpochRecord(epoch, lr, lossCount == 0 ? double.NaN : lossSum / lossCount, valLoss, at05.Recall, at05.Precision,
                Ranking.Auroc(valScores, labels), ap, skipped, seconds, lossCount / Math.Max(1e-9, seconds));
            History.Add(record);
            var best = state.BestEpoch == 0 || ap > state.BestAp;
            if (best)
            {
                state.BestAp = ap;
                state.BestEpoch = epoch;
                BestEpoch = epoch;
                _model.save(Path.Combine(checkpointDir, CheckpointBest));
            }

            state.Epoch = epoch;
            SaveCheckpoint(checkpointDir, optimizer, state);
            _progress.Epoch(record, _options.Epochs, best);
            if (_options.Patience > 0 && epoch - state.BestEpoch >= _options.Patience)
            {
                _progress.Message($"early stop after epoch {epoch}: validation AP has not improved for {_options.Patience} epochs (best {state.BestAp:F4} at epoch {state.BestEpoch})");
                break;
            }
        }

        TrainSeconds = stopwatch.Elapsed.TotalSeconds;
        ImagesPerSecond = images / Math.Max(1e-9, TrainSeconds);
        var bestPath = Path.Combine(checkpointDir, CheckpointBest);
        if (File.Exists(bestPath))
        {
            _model.load(bestPath);
        }

        _model.eval();
        if (!AllFinite())
        {
            throw new TrainingDivergedException("training ended with non-finite weights; no model was written");
        }
    }

    /// <summary>Probabilities for every image of a set (eval mode, no augmentation) and the mean weighted loss.</summary>
    public (double Loss, double[] Scores) Evaluate(TensorSet set, Tensor? posWeight = null)
    {
        _model.eval();
        var scores = new double[set.Count];
        double lossSum = 0;
        using var noGrad = no_grad();
        for (var start = 0; start < set.Count; start += _options.BatchSize)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = Enumerable.Range(start, Math.Min(_options.BatchSize, set.Count - start)).ToArray();
            var (x, y) = Batch(set, batch);
            var logits = _model.forward(x).reshape(-1);
            if (posWeight is not null)
            {
                lossSum += nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: posWeight).item<float>() * batch.Length;
            }

            var logitValues = logits.cpu().data<float>().ToArray();
            for (var i = 0; i < batch.Length; i++)
            {
                scores[start + i] = 1 / (1 + Math.Exp(-logitValues[i]));
            }
        }

        return (lossSum / Math.Max(1, set.Count), scores);
    }

    private (bool Ok, double Loss, string Why) TrainStep(TensorSet train, int[] batch, int epoch, int step, optim.Optimizer optimizer, Tensor posWeight)
    {
        using var noCollection = NoCollection.Enter();
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var (x, y) = Batch(train, batch);
        var (augmented, _) = _augmenter.Apply(x, null, epoch, step);
        var logits = _model.forward(augmented).reshape(-1);
        var loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: posWeight);
        if (_options.InjectNonFiniteLoss?.Invoke(epoch, step) == true)
        {
            loss = loss * float.NaN;
        }

        var value = loss.item<float>();
        if (!float.IsFinite(value))
        {
            optimizer.zero_grad();
            return (false, value, $"loss is {value}");
        }

        loss.backward();
        var norm = nn.utils.clip_grad_norm_(_model.parameters(), _options.ClipNorm);
        if (!double.IsFinite(norm) || norm > _options.ExplodingNorm)
        {
            optimizer.zero_grad();
            return (false, value, $"gradient norm {norm:G3} (limit {_options.ExplodingNorm:G3})");
        }

        optimizer.step();
        return (true, value, "");
    }

    private (Tensor X, Tensor Y) Batch(TensorSet set, int[] indices)
    {
        var length = set.Tensors[0].Length;
        var data = new float[indices.Length * length];
        var labels = new float[indices.Length];
        for (var i = 0; i < indices.Length; i++)
        {
            set.Tensors[indices[i]].CopyTo(data, i * length);
            labels[i] = set.Images[indices[i]].Defect ? 1 : 0;
        }

        var spec = set.Spec;
        return (tensor(data, [indices.Length, spec.Channels, spec.Height, spec.Width]).to(_device), tensor(labels).to(_device));
    }

    private double LearningRate(int epoch, int step, int steps)
    {
        var progress = (epoch - 1 + ((double)step / steps)) / _options.Epochs; // 0 … 1 over the run
        return _options.Schedule switch
        {
            "constant" => _options.LearningRate,
            "step" => _options.LearningRate * (progress < 0.6 ? 1 : progress < 0.85 ? 0.1 : 0.01),
            "cosine" => epoch == 1 && _options.Epochs > 1
                ? _options.LearningRate * (step + 1) / steps
                : _options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * progress)),
            _ => throw new ArgumentException($"unknown learning-rate schedule '{_options.Schedule}' (use cosine, step or constant)"),
        };
    }

    private bool AllFinite()
    {
        using var scope = NewDisposeScope();
        return _model.state_dict().Values.All(t => !t.is_floating_point() || isfinite(t).all().item<bool>());
    }

    private Dictionary<string, Tensor> Snapshot()
    {
        using var noGrad = no_grad();
        return _model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
    }

    private void Restore(Dictionary<string, Tensor> snapshot)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in _model.state_dict())
        {
            value.copy_(snapshot[name]);
        }
    }

    private sealed class CheckpointState
    {
        public int Epoch { get; set; }

        public int BestEpoch { get; set; }

        public double BestAp { get; set; }

        public double LearningRateScale { get; set; } = 1;

        public List<EpochRecord> History { get; set; } = [];
    }

    private void SaveCheckpoint(string dir, OptimizerHelper optimizer, CheckpointState state)
    {
        // Write beside and rename, so an interrupted save leaves the previous checkpoint intact.
        _model.save(Path.Combine(dir, CheckpointModel + ".tmp"));
        optimizer.save_state_dict(Path.Combine(dir, CheckpointOptimizer + ".tmp"));
        File.WriteAllText(Path.Combine(dir, CheckpointStateFile + ".tmp"), JsonSerializer.Serialize(state));
        foreach (var name in new[] { CheckpointModel, CheckpointOptimizer, CheckpointStateFile })
        {
            File.Move(Path.Combine(dir, name + ".tmp"), Path.Combine(dir, name), overwrite: true);
        }
    }

    private CheckpointState LoadCheckpoint(string dir, OptimizerHelper optimizer)
    {
        var statePath = Path.Combine(dir, CheckpointStateFile);
        if (!File.Exists(statePath))
        {
            throw new FileNotFoundException($"{statePath}: no checkpoint to resume from (run without --resume)");
        }

        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath))
            ?? throw new InvalidDataException($"{statePath}: empty checkpoint state");
        _model.load(Path.Combine(dir, CheckpointModel));
        optimizer.load_state_dict(Path.Combine(dir, CheckpointOptimizer));
        return state;
    }
}
