using System.Globalization;
using Inspection.Camera;

namespace Inspection.Trainer.Training;

/// <summary>The learning-rate sweep's range and length.</summary>
internal sealed record LrFindOptions
{
    /// <summary>First learning rate of the sweep.</summary>
    public double Start { get; init; } = 1e-7;

    /// <summary>Last learning rate of the sweep.</summary>
    public double End { get; init; } = 10;

    /// <summary>Steps of the sweep (batches cycle through the training split as often as needed).</summary>
    public int Steps { get; init; } = 100;

    /// <summary>The sweep stops once the smoothed loss exceeds this many times its lowest value.</summary>
    public double DivergeFactor { get; init; } = 4;

    /// <summary>Throws naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!(Start > 0 && End > Start && double.IsFinite(End)))
        {
            throw new ArgumentException(FormattableString.Invariant($"--start-lr and --end-lr must satisfy 0 < start < end (got {Start}, {End})"));
        }

        if (Steps < 10)
        {
            throw new ArgumentException($"--steps must be at least 10 (got {Steps})");
        }
    }
}

/// <summary>One step of the sweep: its learning rate, the batch loss and the smoothed loss.</summary>
internal sealed record LrFindPoint(double LearningRate, double Loss, double SmoothedLoss);

/// <summary>The sweep's curve and the rate it suggests.</summary>
/// <param name="Points">One per step taken.</param>
/// <param name="Suggested">The learning rate where the smoothed loss falls fastest (against log10 of the rate), before its minimum.</param>
/// <param name="Slope">The smoothed loss's slope per decade of learning rate at <paramref name="Suggested"/> (negative: the loss falls).</param>
/// <param name="MinimumLossRate">The learning rate of the lowest smoothed loss.</param>
/// <param name="Stopped">Why the sweep ended.</param>
internal sealed record LrFindResult(IReadOnlyList<LrFindPoint> Points, double Suggested, double Slope, double MinimumLossRate, string Stopped)
{
    /// <summary>The one-line summary the CLI prints.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"suggested learning rate {Suggested:G3} (steepest fall of the smoothed loss, {Slope:F3} per decade); lowest loss at {MinimumLossRate:G3}; {Points.Count} steps from {Points[0].LearningRate:G3} to {Points[^1].LearningRate:G3} ({Stopped})");
}

/// <summary>
/// The learning-rate range test (Smith, "Cyclical learning rates", 2017): training steps with the rate growing
/// exponentially from <see cref="LrFindOptions.Start"/> to <see cref="LrFindOptions.End"/>, the loss smoothed with an
/// exponential moving average (0.98, bias-corrected), until the sweep ends or the loss diverges. The suggestion is the
/// rate of the steepest fall before the minimum. The model's weights (batch-norm statistics included) are restored
/// afterwards, so training starts from where the sweep did.
/// </summary>
internal sealed partial class TrainingLoop
{
    private const double Smoothing = 0.98;

    /// <summary>Runs the sweep on <paramref name="task"/> with this loop's optimizer, guard and batch size.</summary>
    public LrFindResult FindLearningRate(ITrainingTask task, LrFindOptions sweep)
    {
        sweep.Validate();
        var model = task.Model;
        var groups = task.ParameterGroups;
        var saved = Snapshot(model);
        var points = new List<LrFindPoint>();
        var stopped = "end of the sweep";
        try
        {
            using var optimizer = CreateOptimizer(groups);
            ParameterGroup.TrainMode(model, groups, epoch: 1);
            var perPass = Math.Max(1, task.TrainCount / _options.BatchSize);
            var order = Array.Empty<int>();
            double average = 0, lowest = double.PositiveInfinity;
            for (var i = 0; i < sweep.Steps; i++)
            {
                var pass = i / perPass;
                var step = i % perPass;
                if (step == 0)
                {
                    order = Enumerable.Range(0, task.TrainCount).ToArray();
                    new Random(StableSeed.Combine(_options.Seed, -1 - pass)).Shuffle(order);
                }

                var lr = sweep.Start * Math.Pow(sweep.End / sweep.Start, (double)i / (sweep.Steps - 1));
                foreach (var (group, spec) in optimizer.ParamGroups.Zip(groups))
                {
                    group.LearningRate = lr * spec.LearningRateFactor;
                }

                var (ok, loss, why) = Step(task, order.Skip(step * _options.BatchSize).Take(_options.BatchSize).ToArray(), pass + 1, step, optimizer);
                if (!ok)
                {
                    stopped = $"stopped at {lr:G3}: {why}";
                    break;
                }

                average = (Smoothing * average) + ((1 - Smoothing) * loss);
                var smoothed = average / (1 - Math.Pow(Smoothing, i + 1));
                points.Add(new LrFindPoint(lr, loss, smoothed));
                _progress.Step(1, 1, i + 1, sweep.Steps, loss);
                lowest = Math.Min(lowest, smoothed);
                if (smoothed > sweep.DivergeFactor * lowest)
                {
                    stopped = FormattableString.Invariant($"stopped at {lr:G3}: the loss diverged (over {sweep.DivergeFactor}x its lowest)");
                    break;
                }
            }
        }
        finally
        {
            Restore(model, saved);
            Dispose(saved);
        }

        return Suggest(points, stopped);
    }

    /// <summary>The steepest fall of the smoothed loss against log10(rate), up to its minimum, over a window of ±5% of the points.</summary>
    public static LrFindResult Suggest(IReadOnlyList<LrFindPoint> points, string stopped)
    {
        if (points.Count < 5)
        {
            throw new TrainingDivergedException($"learning-rate sweep: only {points.Count} steps before it stopped ({stopped}); lower --start-lr");
        }

        var minimum = Enumerable.Range(0, points.Count).MinBy(i => points[i].SmoothedLoss);
        var half = Math.Max(1, points.Count / 20);
        var (best, bestSlope) = (-1, 0.0);
        for (var i = half; i + half <= minimum; i++)
        {
            var slope = (points[i + half].SmoothedLoss - points[i - half].SmoothedLoss) /
                (Math.Log10(points[i + half].LearningRate) - Math.Log10(points[i - half].LearningRate));
            if (slope < bestSlope)
            {
                (best, bestSlope) = (i, slope);
            }
        }

        if (best < 0)
        {
            throw new TrainingDivergedException(string.Create(CultureInfo.InvariantCulture,
                $"learning-rate sweep: the loss never fell between {points[0].LearningRate:G3} and {points[^1].LearningRate:G3} ({stopped}); give --lr, or sweep a wider range"));
        }

        return new LrFindResult(points, points[best].LearningRate, bestSlope, points[minimum].LearningRate, stopped);
    }
}
