using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Evaluation;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Benchmarks;

/// <summary>One model to measure: its task, architecture name, and how to build it for an input size.</summary>
/// <param name="Task">Classifier or segmenter (what the loss compares the output with).</param>
/// <param name="Arch">Architecture name as the CLI and manifest use it.</param>
/// <param name="Create">Builds the model with one input channel.</param>
/// <param name="SizeMultiple">Input sides must be multiples of this.</param>
internal sealed record BenchModel(string Task, string Arch, Func<nn.Module<Tensor, Tensor>> Create, int SizeMultiple = 1);

/// <summary>Timings of one architecture at one input size.</summary>
/// <param name="Task">Classifier or segmenter.</param>
/// <param name="Arch">Architecture.</param>
/// <param name="Size">Square input side in pixels.</param>
/// <param name="Batch">Images per step.</param>
/// <param name="Device">cpu or cuda.</param>
/// <param name="ForwardMs">Median forward pass (with the loss), milliseconds per step.</param>
/// <param name="BackwardMs">Median backward pass plus optimizer step, milliseconds per step.</param>
/// <param name="StepMs">Median whole step.</param>
/// <param name="ImagesPerSecond">Batch ÷ median step time.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="Layout">Memory layout of weights and input: nchw, or nhwc (channels-last strides, <see cref="ChannelsLast"/>).</param>
/// <param name="Malloc">keep (freed tensor memory kept for reuse, as the trainer runs, <see cref="Training.TensorMemory"/>) or glibc (its default).</param>
/// <param name="MinorFaultsPerStep">The process's minor page faults per timed step (the kernel mapping and zeroing fresh pages).</param>
/// <param name="TrainingGigaMacsPerImage">Forward + backward multiply-accumulates per image, 3 × the forward's (<see cref="MacCounter"/>); the "~5.5 GFLOP per ResNet-18 training image" counts the same way.</param>
internal sealed record TrainingTiming(string Task, string Arch, int Size, int Batch, string Device, double ForwardMs, double BackwardMs, double StepMs, double ImagesPerSecond, long Parameters,
    double TrainingGigaMacsPerImage, string Layout = "nchw", string Malloc = "keep", double MinorFaultsPerStep = 0)
{
    /// <summary>Multiply-accumulates per second reached, in G.</summary>
    public double GigaMacsPerSecond => ImagesPerSecond * TrainingGigaMacsPerImage;
}

/// <summary>
/// Measures training speed: for each model and input size, a few warm-up steps and then timed steps of forward (model
/// and loss), backward and an Adam update on random data of the right shape, on the given device. Each step runs inside
/// a dispose scope, as training does. On CUDA the device is synchronised around each timed part.
/// </summary>
internal static class TrainingBench
{
    /// <summary>The architectures measured: every classifier and every segmenter.</summary>
    public static IReadOnlyList<BenchModel> Models(double widthMultiplier) =>
    [
        .. Architectures.ClassifierNames.Select(arch => new BenchModel(ModelTasks.Classifier, arch, () => Architectures.CreateClassifier(arch, 1, widthMultiplier))),
        .. Architectures.SegmenterNames.Select(arch => new BenchModel(ModelTasks.Segmenter, arch, () => new UNet(1, widthMultiplier, arch), UNet.SizeMultiple)),
    ];

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.StepResult)]
    public static TrainingTiming Measure(BenchModel model, int size, int batch, int steps, int warmUp, Device device, bool channelsLast = false)
    {
        using var scope = torch.NewDisposeScope();
        var module = model.Create();
        module.to(device);
        module.train();
        var parameters = module.parameters().Sum(p => p.numel());
        var trainingGigaMacs = 3 * MacCounter.Count(module, 1, size, size) / 1e9;
        using var optimizer = optim.Adam(module.parameters(), lr: 1e-3);
        var input = torch.rand(batch, 1, size, size, device: device);
        if (channelsLast)
        {
            ChannelsLast.Apply(module);
            input = ChannelsLast.Of(input);
        }

        var forward = new List<double>();
        var backward = new List<double>();
        long faultsBefore = 0;
        var cuda = device.type == DeviceType.CUDA;
        for (var step = 0; step < warmUp + steps; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            if (step == warmUp)
            {
                faultsBefore = Training.TensorMemory.MinorPageFaults();
            }

            Sync(cuda);
            var start = Stopwatch.GetTimestamp();
            var output = module.forward(input);
            var target = (torch.rand_like(output) > 0.5).to_type(ScalarType.Float32);
            var loss = nn.functional.binary_cross_entropy_with_logits(output, target);
            Sync(cuda);
            var forwarded = Stopwatch.GetTimestamp();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            Sync(cuda);
            var done = Stopwatch.GetTimestamp();
            if (step >= warmUp)
            {
                forward.Add(Stopwatch.GetElapsedTime(start, forwarded).TotalMilliseconds);
                backward.Add(Stopwatch.GetElapsedTime(forwarded, done).TotalMilliseconds);
            }
        }

        var faultsPerStep = (Training.TensorMemory.MinorPageFaults() - faultsBefore) / (double)steps;
        var totals = forward.Zip(backward, (f, b) => f + b).ToList();
        var stepMs = Median(totals);
        return new TrainingTiming(model.Task, model.Arch, size, batch, cuda ? "cuda" : "cpu", Median(forward), Median(backward), stepMs, batch / (stepMs / 1000), parameters, trainingGigaMacs, channelsLast ? "nhwc" : "nchw",
            Training.TensorMemory.KeepingFreed ? "keep" : "glibc", faultsPerStep);
    }

    private static void Sync(bool cuda)
    {
        if (cuda)
        {
            torch.cuda.synchronize();
        }
    }

    private static double Median(List<double> values) => LatencySummary.From(values).P50Ms;
}
