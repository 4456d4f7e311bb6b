namespace Inspection.Trainer.Training;

/// <summary>Optimisation settings of a training run, for the classifier and the segmenter alike.</summary>
internal sealed record TrainingOptions
{
    /// <summary>Epochs to run at most.</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary><c>adam</c>, <c>adamw</c> (decoupled weight decay) or <c>sgd</c> (with Nesterov momentum).</summary>
    public string Optimizer { get; init; } = "adam";

    /// <summary>The optimizer names <see cref="Optimizer"/> takes.</summary>
    public static IReadOnlyList<string> Optimizers { get; } = ["adam", "adamw", "sgd"];

    /// <summary>Peak learning rate (of parameter groups with factor 1).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Find the peak learning rate with the range test (<c>--lr auto</c>) before training; <see cref="LearningRate"/> is then unused.</summary>
    public bool AutoLearningRate { get; init; }

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>
    /// <c>cosine</c> (after a linear warm-up of one epoch, at most 50 steps, it decays to
    /// <see cref="MinLearningRateFraction"/> of the peak), <c>step</c> (×0.1 at 60% and 85% of the steps) or <c>constant</c>.
    /// </summary>
    public string Schedule { get; init; } = "cosine";

    /// <summary>The schedule names <see cref="Schedule"/> takes.</summary>
    public static IReadOnlyList<string> Schedules { get; } = ["cosine", "step", "constant"];

    /// <summary>Where the cosine schedule ends, as a fraction of the peak.</summary>
    public double MinLearningRateFraction { get; init; }

    /// <summary>Gradients are clipped to this global L2 norm.</summary>
    public double ClipNorm { get; init; } = 5.0;

    /// <summary>A gradient norm above this (before clipping) counts as exploding: the step is skipped.</summary>
    public double ExplodingNorm { get; init; } = 1e4;

    /// <summary>After this many bad steps in a row training stops.</summary>
    public int MaxBadSteps { get; init; } = 5;

    /// <summary>Stop after this many epochs without a better validation score (0 = never).</summary>
    public int Patience { get; init; } = 6;

    /// <summary>
    /// Average the weights (batch-norm statistics included) of the last this-many epochs once training ends, and keep
    /// the average instead of the best single epoch when its validation score is higher (0 = off). A network that
    /// overfits lets the validation score jump from epoch to epoch; the average of the epochs around the end of the
    /// schedule sits between those jumps.
    /// </summary>
    public int AverageLast { get; init; }

    /// <summary>Classifier only: positive-class weight of the loss; null derives it from the recall target and class balance.</summary>
    public double? PosWeight { get; init; }

    /// <summary>Classifier only: train on a labels file's probabilities as targets instead of 0/1 at the cutoff
    /// (metrics, thresholds and the split still use the cutoff).</summary>
    public bool SoftLabels { get; init; }

    /// <summary>Seed of the split, shuffling, augmentation and initialisation.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Classifier <c>--head-only</c>: feature passes over the training split (the first unaugmented, the others augmented).</summary>
    public int FeaturePasses { get; init; } = 4;

    /// <summary>Test hook: returns true for (epoch, step) whose loss should be replaced by NaN.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Func<int, int, bool>? InjectNonFiniteLoss { get; init; }

    /// <summary>Throws naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!Optimizers.Contains(Optimizer))
        {
            throw new ArgumentException($"--optimizer must be {OneOf(Optimizers)} (got '{Optimizer}')");
        }

        if (!Schedules.Contains(Schedule))
        {
            throw new ArgumentException($"--schedule must be {OneOf(Schedules)} (got '{Schedule}')");
        }

        if (Epochs < 1 || BatchSize < 2)
        {
            throw new ArgumentException($"--epochs must be at least 1 and --batch-size at least 2 (got {Epochs}, {BatchSize})");
        }

        if (AverageLast is < 0 or 1)
        {
            throw new ArgumentException($"--average-last must be 0 (off) or at least 2 epochs (got {AverageLast})");
        }

        if (!(LearningRate > 0 && double.IsFinite(LearningRate)))
        {
            throw new ArgumentException($"--lr must be a positive number (got {LearningRate})");
        }
    }

    private static string OneOf(IReadOnlyList<string> names) => $"{string.Join(", ", names.Take(names.Count - 1))} or {names[^1]}";
}
