using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using Inspection.Inference;
using Inspection.Trainer.Training;
using static TorchSharp.torch;

namespace Inspection.Trainer.Segmenter;

/// <summary>Probability maps for a set of samples, and the metrics they give.</summary>
/// <param name="Samples">The samples, in order.</param>
/// <param name="Probabilities">One row-major H×W probability map per sample.</param>
/// <param name="Truth">One row-major H×W 0/1 mask per sample.</param>
internal sealed record SegmentationPredictions(IReadOnlyList<SegmentationSample> Samples, IReadOnlyList<float[]> Probabilities, IReadOnlyList<byte[]> Truth)
{
    /// <summary>Per-image confusion counts at <paramref name="threshold"/>.</summary>
    public IReadOnlyList<PixelCounts> CountsAt(double threshold) =>
        Probabilities.Select((p, i) => PixelCounts.Count(p, Truth[i], (float)threshold)).ToList();

    /// <summary>Metrics over the set at <paramref name="threshold"/>.</summary>
    public SegmentationMetrics MetricsAt(double threshold) => SegmentationMetrics.From(threshold, CountsAt(threshold));

    /// <summary>Histograms for choosing a threshold.</summary>
    public PixelThresholds Thresholds()
    {
        var thresholds = new PixelThresholds();
        for (var i = 0; i < Probabilities.Count; i++)
        {
            thresholds.Add(Probabilities[i], Truth[i]);
        }

        return thresholds;
    }
}

/// <summary>Runs a segmenter over samples: the TorchSharp network during training, the ONNX package for <c>trainer eval</c>.</summary>
internal static class SegmenterEvaluation
{
    /// <summary>Predicts with the TorchSharp network (eval mode, no gradients).</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public static SegmentationPredictions PredictTorch(UNet model, InputSpec input, IReadOnlyList<SegmentationSample> samples, int batchSize)
    {
        model.eval();
        using var noGrad = no_grad();
        using var batcher = new SegmentationBatch(input);
        var probabilities = new List<float[]>();
        for (var start = 0; start < samples.Count; start += batchSize)
        {
            using var noCollection = Training.NoCollection.Enter();
            using var scope = NewDisposeScope();
            var batch = samples.Skip(start).Take(batchSize).ToList();
            var p = model.forward(batcher.Inputs(batch.Select(s => s.Image).ToList())).sigmoid().cpu().contiguous();
            var all = p.data<float>().ToArray();
            var plane = input.Width * input.Height;
            for (var i = 0; i < batch.Count; i++)
            {
                probabilities.Add(all.AsSpan(i * plane, plane).ToArray());
            }
        }

        return new SegmentationPredictions(samples, probabilities, samples.Select(s => batcher.MaskBytes(s.Mask)).ToList());
    }

    /// <summary>Predicts with a package's <c>model.onnx</c> through Inspection.Inference on the CPU, one image at a time as the daemon does.</summary>
    /// <param name="package">The package.</param>
    /// <param name="samples">Samples at the package's input size.</param>
    /// <param name="threads">ONNX Runtime intra-op threads (0: its default).</param>
    /// <param name="runTimes">When given, receives each image's session run time in milliseconds, after one untimed
    /// warm-up run (the daemon warms its sessions up too, so the first run's allocations are not a per-image cost).</param>
    public static SegmentationPredictions PredictOnnx(ModelPackage package, IReadOnlyList<SegmentationSample> samples, int threads = 0, List<double>? runTimes = null)
    {
        var manifest = package.Manifest;
        using var model = OnnxModel.Load(package, threads);
        using var runner = new OnnxRunner(model);
        using var batcher = new SegmentationBatch(manifest.Input);
        var probabilities = new List<float[]>();
        if (runTimes is not null && samples.Count > 0)
        {
            batcher.Image(samples[0].Image, runner.Input);
            runner.Run();
        }

        foreach (var sample in samples)
        {
            batcher.Image(sample.Image, runner.Input);
            var start = Stopwatch.GetTimestamp();
            runner.Run();
            runTimes?.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            var map = new float[manifest.Input.Width * manifest.Input.Height];
            ModelOutputs.PixelProbabilities(runner.Output, manifest.Output.Kind, map);
            probabilities.Add(map);
        }

        return new SegmentationPredictions(samples, probabilities, samples.Select(s => batcher.MaskBytes(s.Mask)).ToList());
    }
}
