using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Inspection.Camera;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Training;

/// <summary>Training stopped because the loss or gradients kept being non-finite or exploding. No model is written.</summary>
internal sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>What a finished <see cref="TrainingLoop"/> ran.</summary>
/// <param name="History">Epoch records (also those restored from a checkpoint).</param>
/// <param name="BestEpoch">Epoch whose weights the model now holds.</param>
/// <param name="TrainSeconds">Seconds spent in training steps (this process).</param>
/// <param name="ImagesPerSecond">Images per second over those steps.</param>
/// <param name="LearningRate">The peak learning rate used (found by the sweep with <see cref="TrainingOptions.AutoLearningRate"/>).</param>
/// <param name="Search">The sweep run for <see cref="TrainingOptions.AutoLearningRate"/> (null without it, or when resumed after it).</param>
/// <param name="Averaged">With <see cref="TrainingOptions.AverageLast"/>: the epochs whose average the model holds
/// instead of <paramref name="BestEpoch"/>'s weights, when the average validated better; otherwise null.</param>
internal sealed record TrainingResult(IReadOnlyList<EpochRecord> History, int BestEpoch, double TrainSeconds, double ImagesPerSecond, double LearningRate, LrFindResult? Search,
    EpochAverage? Averaged = null);

/// <summary>Epochs <paramref name="First"/> to <paramref name="Last"/>, whose averaged weights the model holds.</summary>
internal sealed record EpochAverage(int First, int Last)
{
    /// <summary>Records <c>--average-last</c> in a package's training metrics: <c>average_last</c>, and the averaged
    /// epochs when the average was kept.</summary>
    public static void Record(Dictionary<string, double> training, int averageLast, EpochAverage? kept)
    {
        training["average_last"] = averageLast;
        if (kept is not null)
        {
            (training["averaged_from_epoch"], training["averaged_to_epoch"]) = (kept.First, kept.Last);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"average of epochs {First}-{Last}";
}

/// <summary>
/// The one training loop of the classifier and the segmenter. Each epoch: shuffled mini-batches (the last partial one
/// dropped, as batch norm over a handful of samples gives wild statistics); the learning-rate schedule per step and per
/// parameter group; frozen groups get no gradients; every step in a no-GC region (<see cref="NoCollection"/>); a
/// non-finite loss or an exploding gradient norm skips the step and halves the learning rate (repeated ones stop the
/// run); then the task's validation. The weights of the epoch with the best validation score are kept, and a checkpoint
/// after every epoch lets <c>--resume</c> continue where a run stopped.
/// </summary>
internal sealed partial class TrainingLoop
{

    private const string CheckpointModel = "model.bin";
    private const string CheckpointBest = "best.bin";
    private const string CheckpointOptimizer = "optimizer.bin";
    private const string CheckpointStateFile = "state.json";
    private const int MaxWarmupSteps = 50;
    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly ITrainingProgress _progress;
    private TrainingOptions _options;

    /// <summary>A loop with these settings, reporting to <paramref name="progress"/>.</summary>
    public TrainingLoop(TrainingOptions options, ITrainingProgress progress)
    {
        _options = options;
        _progress = progress;
    }

    /// <summary>Runs training; <paramref name="checkpointDir"/> receives a checkpoint after every epoch and is read when <paramref name="resume"/>.</summary>
    public TrainingResult Train(ITrainingTask task, string checkpointDir, bool resume)
    {
        _options.Validate();
        Directory.CreateDirectory(checkpointDir);
        var model = task.Model;
        var groups = task.ParameterGroups;
        using var optimizer = CreateOptimizer(groups);
        var state = new CheckpointState();
        if (resume)
        {
            state = LoadCheckpoint(model, checkpointDir, optimizer);
            _progress.Message($"resumed from {checkpointDir} after epoch {state.Epoch} (best epoch {state.BestEpoch})");
        }

        LrFindResult? search = null;
        if (_options.AutoLearningRate)
        {
            if (state.FoundLearningRate is null)
            {
                search = FindLearningRate(task, new LrFindOptions());
                state.FoundLearningRate = search.Suggested;
                _progress.Message("lr-find: " + search);
            }

            _options = _options with { LearningRate = state.FoundLearningRate.Value };
        }

        _progress.Message(FormattableString.Invariant(
            $"optimizer: {optimizer.GetType().Name}, peak lr {_options.LearningRate}{(_options.AutoLearningRate ? " (found)" : "")}, {_options.Schedule} schedule{(_options.Optimizer == "sgd" ? $", momentum {_options.Momentum} (Nesterov)" : "")}{GroupSummary(groups)}"));

        var steps = Math.Max(1, task.TrainCount / _options.BatchSize);
        var stopwatch = new Stopwatch();
        var images = 0L;
        for (var epoch = state.Epoch + 1; epoch <= _options.Epochs; epoch++)
        {
            var epochStart = Stopwatch.GetTimestamp();
            var trained = TrainEpoch(task, optimizer, state, epoch, steps, stopwatch);
            images += trained.Images;
            if (!EndEpoch(task, checkpointDir, optimizer, state, trained, epochStart))
            {
                break;
            }
        }

        var averaged = _options.AverageLast > 0 ? AverageLastEpochs(task, checkpointDir, state) : null;
        LoadBest(model, checkpointDir);
        var trainSeconds = stopwatch.Elapsed.TotalSeconds;
        return new TrainingResult(state.History, state.BestEpoch, trainSeconds, images / Math.Max(1e-9, trainSeconds), _options.LearningRate, search, averaged);
    }

    /// <summary>One epoch's training steps in shuffled order, each under the divergence guard: a bad step is skipped,
    /// the model restored if its weights went non-finite, and the learning rate halved; too many in a row stop the run.</summary>
    private EpochSteps TrainEpoch(ITrainingTask task, OptimizerHelper optimizer, CheckpointState state, int epoch, int steps, Stopwatch stopwatch)
    {
        var model = task.Model;
        var groups = task.ParameterGroups;
        var frozen = ParameterGroup.TrainMode(model, groups, epoch);
        var order = Enumerable.Range(0, task.TrainCount).ToArray();
        new Random(StableSeed.Combine(_options.Seed, epoch)).Shuffle(order);
        double lossSum = 0;
        int lossCount = 0, skipped = 0, badInARow = 0;
        double lr = 0;
        var images = 0L;
        var lastGood = Snapshot(model);
        for (var step = 0; step < steps; step++)
        {
            lr = LearningRate(epoch, step, steps) * state.LearningRateScale;
            foreach (var (group, spec) in optimizer.ParamGroups.Zip(groups))
            {
                group.LearningRate = lr * spec.LearningRateFactor;
            }

            var batch = order.Skip(step * _options.BatchSize).Take(_options.BatchSize).ToArray();
            stopwatch.Start();
            var (ok, loss, why) = Step(task, batch, epoch, step, optimizer);
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
            if (!AllFinite(model))
            {
                Restore(model, lastGood);
            }

            _progress.Message($"epoch {epoch} step {step + 1}: {why}; step skipped, learning rate halved to {lr * 0.5:G3}");
            if (badInARow >= _options.MaxBadSteps)
            {
                throw new TrainingDivergedException(
                    $"training stopped: {badInARow} bad steps in a row (last: {why}) despite lowering the learning rate to {lr * 0.5:G3}. No model was written. " +
                    "Check the data for broken images, or lower --lr / --clip-norm, or use --init scratch");
            }
        }

        Dispose(lastGood);
        return new EpochSteps(epoch, frozen, lr, lossCount == 0 ? double.NaN : lossSum / lossCount, lossCount, skipped, images);
    }

    /// <summary>After an epoch's steps: validates, records the epoch, keeps the weights when they are the best so far and
    /// writes the checkpoint; false when early stopping ends the run.</summary>
    private bool EndEpoch(ITrainingTask task, string checkpointDir, OptimizerHelper optimizer, CheckpointState state, EpochSteps trained, long epochStart)
    {
        var epoch = trained.Epoch;
        var validation = task.Validate();
        var seconds = Stopwatch.GetElapsedTime(epochStart).TotalSeconds;
        var record = new EpochRecord(epoch, trained.LearningRate, trained.Loss, validation.Loss, validation.Recall, validation.Precision,
            validation.Metrics, trained.Skipped, seconds, trained.LossCount / Math.Max(1e-9, seconds)) { Frozen = trained.Frozen };
        state.History.Add(record);
        var best = state.BestEpoch == 0 || validation.Score > state.BestScore;
        if (best)
        {
            state.BestScore = validation.Score;
            state.BestEpoch = epoch;
            task.Model.save(Path.Combine(checkpointDir, CheckpointBest));
        }

        state.Epoch = epoch;
        SaveCheckpoint(task.Model, checkpointDir, optimizer, state);
        if (_options.AverageLast > 0)
        {
            KeepEpochWeights(task.Model, checkpointDir, epoch);
        }

        _progress.Epoch(record, _options.Epochs, best);
        if (_options.Patience > 0 && epoch - state.BestEpoch >= _options.Patience)
        {
            _progress.Message($"early stop after epoch {epoch}: validation {validation.BestBy} has not improved for {_options.Patience} epochs (best {state.BestScore:F4} at epoch {state.BestEpoch})");
            return false;
        }

        return true;
    }

    private static string EpochWeights(string checkpointDir, int epoch) => Path.Combine(checkpointDir, $"epoch-{epoch}.bin");

    // Keeps this epoch's weights for the average at the end, and drops the one that falls out of the window.
    private void KeepEpochWeights(nn.Module model, string checkpointDir, int epoch)
    {
        var path = EpochWeights(checkpointDir, epoch);
        model.save(path + ".tmp");
        File.Move(path + ".tmp", path, overwrite: true);
        File.Delete(EpochWeights(checkpointDir, epoch - _options.AverageLast));
    }

    /// <summary>
    /// Averages every floating-point tensor of the last <see cref="TrainingOptions.AverageLast"/> epochs' kept weights
    /// (integer ones, batch norm's step counts, keep the last epoch's) and validates the average; it becomes the best
    /// weights when it scores higher than the best single epoch. Null when it does not, or fewer than two epochs are kept.
    /// </summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private EpochAverage? AverageLastEpochs(ITrainingTask task, string checkpointDir, CheckpointState state)
    {
        var epochs = Enumerable.Range(state.Epoch - _options.AverageLast + 1, _options.AverageLast)
            .Where(e => e >= 1 && File.Exists(EpochWeights(checkpointDir, e))).ToList();
        if (epochs.Count < 2)
        {
            _progress.Message($"--average-last {_options.AverageLast}: only {epochs.Count} epoch(s) kept; nothing to average");
            return null;
        }

        var model = task.Model;
        using (var scope = NewDisposeScope())
        using (var noGrad = no_grad())
        {
            Dictionary<string, Tensor>? sums = null;
            foreach (var epoch in epochs)
            {
                model.load(EpochWeights(checkpointDir, epoch));
                var weights = model.state_dict().Where(kv => kv.Value.is_floating_point());
                sums ??= weights.ToDictionary(kv => kv.Key, kv => zeros_like(kv.Value, dtype: float64));
                foreach (var (name, value) in weights)
                {
                    sums[name].add_(value.to(float64));
                }
            }

            foreach (var (name, value) in model.state_dict().Where(kv => kv.Value.is_floating_point()))
            {
                value.copy_(sums![name] / epochs.Count);
            }
        }

        var validation = task.Validate();
        var average = new EpochAverage(epochs[0], epochs[^1]);
        var kept = validation.Score > state.BestScore;
        _progress.Message(FormattableString.Invariant(
            $"{average}: validation {validation.BestBy} {validation.Score:F4} against {state.BestScore:F4} of epoch {state.BestEpoch}: {(kept ? "the average is kept" : "epoch " + state.BestEpoch + " is kept")}"));
        if (!kept)
        {
            return null;
        }

        model.save(Path.Combine(checkpointDir, CheckpointBest));
        return average;
    }

    /// <summary>Loads the best epoch's weights into the model for evaluation; refuses weights that are not finite.</summary>
    private static void LoadBest(nn.Module model, string checkpointDir)
    {
        var bestPath = Path.Combine(checkpointDir, CheckpointBest);
        if (File.Exists(bestPath))
        {
            model.load(bestPath);
        }

        model.eval();
        if (!AllFinite(model))
        {
            throw new TrainingDivergedException("training ended with non-finite weights; no model was written");
        }
    }

    /// <summary>What an epoch's steps did: the last learning rate, the mean training loss over <c>LossCount</c> images of
    /// the good steps, the skipped steps, and all images stepped through.</summary>
    private sealed record EpochSteps(int Epoch, IReadOnlyList<string> Frozen, double LearningRate, double Loss, int LossCount, int Skipped, long Images);

    /// <summary>The schedule's learning rate (before the guard's halvings) at <paramref name="step"/> of <paramref name="epoch"/>.</summary>
    public double LearningRate(int epoch, int step, int steps)
    {
        var total = (double)_options.Epochs * steps;
        var done = ((epoch - 1) * (double)steps) + step;
        var peak = _options.LearningRate;
        switch (_options.Schedule)
        {
            case "constant":
                return peak;
            case "step":
                var progressed = done / total;
                return peak * (progressed < 0.6 ? 1 : progressed < 0.85 ? 0.1 : 0.01);
            case "cosine":
                var warmup = _options.Epochs > 1 ? Math.Min(steps, MaxWarmupSteps) : 0;
                if (done < warmup)
                {
                    return peak * (done + 1) / warmup;
                }

                var floor = _options.MinLearningRateFraction;
                return peak * (floor + ((1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * (done - warmup) / Math.Max(1, total - warmup)))));
            default:
                throw new ArgumentException($"unknown learning-rate schedule '{_options.Schedule}' (use cosine, step or constant)");
        }
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.StepResult)]
    private (bool Ok, double Loss, string Why) Step(ITrainingTask task, int[] batch, int epoch, int step, optim.Optimizer optimizer)
    {
        using var noCollection = NoCollection.Enter();
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        var loss = task.Loss(batch, epoch, step);
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
        var norm = nn.utils.clip_grad_norm_(task.Model.parameters().Where(p => p.requires_grad), _options.ClipNorm);
        if (!double.IsFinite(norm) || norm > _options.ExplodingNorm)
        {
            optimizer.zero_grad();
            return (false, value, $"gradient norm {norm:G3} (limit {_options.ExplodingNorm:G3})");
        }

        optimizer.step();
        return (true, value, "");
    }

    private OptimizerHelper CreateOptimizer(IReadOnlyList<ParameterGroup> groups)
    {
        var lr = _options.LearningRate;
        var decay = _options.WeightDecay;
        return _options.Optimizer switch
        {
            "adam" => optim.Adam(groups.Select(g => new Adam.ParamGroup(g.Parameters, lr: lr * g.LearningRateFactor, weight_decay: decay)), lr, weight_decay: decay),
            "adamw" => optim.AdamW(groups.Select(g => new AdamW.ParamGroup(g.Parameters, lr: lr * g.LearningRateFactor, weight_decay: decay)), lr, weight_decay: decay),
            "sgd" => optim.SGD(groups.Select(g => new SGD.ParamGroup(g.Parameters, lr: lr * g.LearningRateFactor, momentum: _options.Momentum, weight_decay: decay, nesterov: true)),
                lr, momentum: _options.Momentum, weight_decay: decay, nesterov: true),
            _ => throw new ArgumentException($"unknown optimizer '{_options.Optimizer}' (use adam, adamw or sgd)"),
        };
    }

    private static string GroupSummary(IReadOnlyList<ParameterGroup> groups) => groups.Count == 1 && groups[0].LearningRateFactor == 1 && groups[0].FrozenEpochs == 0
        ? ""
        : "; groups: " + string.Join(", ", groups.Select(g => FormattableString.Invariant(
            $"{g.Name} ({g.Parameters.Sum(p => p.numel()):N0} parameters, lr x{g.LearningRateFactor}{(g.FrozenEpochs == int.MaxValue ? ", frozen" : g.FrozenEpochs > 0 ? $", frozen for {g.FrozenEpochs} epochs" : "")})")));

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static bool AllFinite(nn.Module model)
    {
        using var scope = NewDisposeScope();
        return model.state_dict().Values.All(t => !t.is_floating_point() || isfinite(t).all().item<bool>());
    }

    private static Dictionary<string, Tensor> Snapshot(nn.Module model)
    {
        using var noGrad = no_grad();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope());
    }

    private static void Restore(nn.Module model, Dictionary<string, Tensor> snapshot)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in model.state_dict())
        {
            value.copy_(snapshot[name]);
        }
    }

    private static void Dispose(Dictionary<string, Tensor> snapshot)
    {
        foreach (var tensor in snapshot.Values)
        {
            tensor.Dispose();
        }
    }

    private sealed class CheckpointState
    {
        public int Epoch { get; set; }

        public int BestEpoch { get; set; }

        public double BestScore { get; set; }

        public double LearningRateScale { get; set; } = 1;

        public double? FoundLearningRate { get; set; }

        public List<EpochRecord> History { get; set; } = [];
    }

    private static void SaveCheckpoint(nn.Module model, string dir, OptimizerHelper optimizer, CheckpointState state)
    {
        // Write beside and rename, so an interrupted save leaves the previous checkpoint intact.
        model.save(Path.Combine(dir, CheckpointModel + ".tmp"));
        optimizer.save_state_dict(Path.Combine(dir, CheckpointOptimizer + ".tmp"));
        File.WriteAllText(Path.Combine(dir, CheckpointStateFile + ".tmp"), JsonSerializer.Serialize(state, StateJson));
        foreach (var name in new[] { CheckpointModel, CheckpointOptimizer, CheckpointStateFile })
        {
            File.Move(Path.Combine(dir, name + ".tmp"), Path.Combine(dir, name), overwrite: true);
        }
    }

    private static CheckpointState LoadCheckpoint(nn.Module model, string dir, OptimizerHelper optimizer)
    {
        var statePath = Path.Combine(dir, CheckpointStateFile);
        if (!File.Exists(statePath))
        {
            throw new FileNotFoundException($"{statePath}: no checkpoint to resume from (run without --resume)");
        }

        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), StateJson)
            ?? throw new InvalidDataException($"{statePath}: empty checkpoint state");
        model.load(Path.Combine(dir, CheckpointModel));
        optimizer.load_state_dict(Path.Combine(dir, CheckpointOptimizer));
        return state;
    }
}
