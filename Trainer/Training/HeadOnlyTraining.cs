using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Camera;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Training;

/// <summary>
/// <c>--head-only</c>: the backbone stays frozen, so its pooled features are computed once per training image and
/// augmentation pass (the first pass unaugmented, the others with the run's augmentation) and once per validation
/// image, and only the linear head trains, many cheap epochs over the cached features. The head of the epoch with the
/// best validation average precision is kept. On a CPU the backbone passes are nearly all of the time.
/// </summary>
internal static class HeadOnlyTraining
{
    /// <summary>Fits the head of <paramref name="model"/>; the backbone's weights do not change.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.StepResult)]
    public static TrainingResult Fit(IHasBackbone model, TensorSet train, TensorSet validation, double posWeight, TrainingOptions options,
        Augmenter augmenter, ITrainingProgress progress, Device device)
    {
        var started = Stopwatch.StartNew();
        model.FreezeBackbone(true);
        var passes = Math.Max(1, options.FeaturePasses);
        using var x = TrainingFeatures(model, train, passes, options.BatchSize, augmenter, progress, started, device);
        using var y = tensor(Enumerable.Repeat(train.Images.Select(i => i.Target(options.SoftLabels)), passes).SelectMany(v => v).ToArray()).to(device);
        using var validationX = Features(model, validation, options.BatchSize, null, 0, device);
        using var validationY = tensor(validation.Images.Select(i => i.Target(options.SoftLabels)).ToArray()).to(device);
        var featureSeconds = started.Elapsed.TotalSeconds;
        var labels = validation.Images.Select(i => i.Defect).ToList();

        var head = model.Head;
        head.train();
        using var pw = tensor(new[] { (float)posWeight }).to(device);
        using var optimizer = optim.Adam(head.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        var history = new List<EpochRecord>();
        var bestAp = double.NegativeInfinity;
        var bestEpoch = 0;
        Dictionary<string, Tensor>? best = null;
        var count = (int)x.shape[0];
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var epochStart = Stopwatch.GetTimestamp();
            var lr = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / options.Epochs));
            foreach (var group in optimizer.ParamGroups)
            {
                group.LearningRate = lr;
            }

            var lossSum = HeadEpoch(head, optimizer, x, y, pw, epoch, options, progress, device);
            var (valLoss, scores) = Score(head, validationX, validationY, pw);
            var at05 = Confusion.At(scores, labels, 0.5);
            var ap = Ranking.AveragePrecision(scores, labels);
            var seconds = Stopwatch.GetElapsedTime(epochStart).TotalSeconds;
            var metrics = new Dictionary<string, double> { ["AUROC"] = Ranking.Auroc(scores, labels), ["AP"] = ap };
            var record = new EpochRecord(epoch, lr, lossSum / count, valLoss, at05.Recall, at05.Precision, metrics, 0, seconds, count / Math.Max(1e-9, seconds)) { Frozen = ["backbone"] };
            history.Add(record);
            var isBest = ap > bestAp;
            if (isBest)
            {
                bestAp = ap;
                bestEpoch = epoch;
                best?.Values.ToList().ForEach(t => t.Dispose());
                best = head.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
            }

            progress.Epoch(record, options.Epochs, isBest);
        }

        using (no_grad())
        {
            foreach (var (name, value) in head.state_dict())
            {
                value.copy_(best![name]);
            }
        }

        best!.Values.ToList().ForEach(t => t.Dispose());
        progress.Message($"head-only: features {featureSeconds:F1} s, head {started.Elapsed.TotalSeconds - featureSeconds:F1} s; head of epoch {bestEpoch} kept (validation AP {bestAp:F4})");
        return new TrainingResult(history, bestEpoch, started.Elapsed.TotalSeconds, (double)train.Count * passes / Math.Max(1e-9, featureSeconds), options.LearningRate, null);
    }

    /// <summary>The backbone's features of the training images, one pass unaugmented and the others augmented, stacked.</summary>
    private static Tensor TrainingFeatures(IHasBackbone model, TensorSet train, int passes, int batchSize, Augmenter augmenter,
        ITrainingProgress progress, Stopwatch started, Device device)
    {
        var perPass = new List<Tensor>();
        try
        {
            for (var pass = 0; pass < passes; pass++)
            {
                perPass.Add(Features(model, train, batchSize, pass == 0 ? null : augmenter, pass, device));
                progress.Message($"head-only: features of {train.Count} training images, pass {pass + 1} of {passes}{(pass == 0 ? " (unaugmented)" : " (augmented)")}, {started.Elapsed.TotalSeconds:F0} s");
            }

            return cat(perPass, 0);
        }
        finally
        {
            perPass.ForEach(t => t.Dispose());
        }
    }

    /// <summary>One shuffled pass of the head over the cached features; returns the summed loss.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static double HeadEpoch(nn.Module<Tensor, Tensor> head, optim.Optimizer optimizer, Tensor x, Tensor y, Tensor posWeight, int epoch,
        TrainingOptions options, ITrainingProgress progress, Device device)
    {
        var count = (int)x.shape[0];
        var steps = Math.Max(1, (count + options.BatchSize - 1) / options.BatchSize);
        var order = Enumerable.Range(0, count).ToArray();
        new Random(StableSeed.Combine(options.Seed, epoch)).Shuffle(order);
        double lossSum = 0;
        for (var step = 0; step < steps; step++)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = order.Skip(step * options.BatchSize).Take(options.BatchSize).Select(i => (long)i).ToArray();
            using var index = tensor(batch).to(device);
            optimizer.zero_grad();
            var loss = nn.functional.binary_cross_entropy_with_logits(head.forward(x.index_select(0, index)).reshape(-1), y.index_select(0, index), pos_weights: posWeight);
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * batch.Length;
            progress.Step(epoch, options.Epochs, step + 1, steps, loss.item<float>());
        }

        return lossSum;
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = TorchOwnership.DisposeScope)]
    private static Tensor Features(IHasBackbone model, TensorSet set, int batchSize, Augmenter? augmenter, int pass, Device device)
    {
        var spec = set.Spec;
        var length = spec.Channels * spec.Height * spec.Width;
        var parts = new List<Tensor>();
        using var noGrad = no_grad();
        for (var start = 0; start < set.Count; start += batchSize)
        {
            using var noCollection = NoCollection.Enter();
            using var scope = NewDisposeScope();
            var n = Math.Min(batchSize, set.Count - start);
            var data = new float[n * length];
            for (var i = 0; i < n; i++)
            {
                set.Tensors[start + i].CopyTo(data, i * length);
            }

            var batch = tensor(data, [n, spec.Channels, spec.Height, spec.Width]).to(device);
            if (augmenter is not null)
            {
                batch = augmenter.Apply(batch, null, pass, start / batchSize).Images;
            }

            parts.Add(model.PooledFeatures(batch).MoveToOuterDisposeScope());
        }

        var all = cat(parts, 0);
        parts.ForEach(t => t.Dispose());
        return all;
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static (double Loss, double[] Scores) Score(nn.Module<Tensor, Tensor> head, Tensor x, Tensor y, Tensor posWeight)
    {
        using var noCollection = NoCollection.Enter();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = head.forward(x).reshape(-1);
        var loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: posWeight).item<float>();
        return (loss, [.. logits.cpu().data<float>().ToArray().Select(l => 1 / (1 + Math.Exp(-l)))]);
    }
}
