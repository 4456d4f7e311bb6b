using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Training;
using TorchSharp;

namespace Inspection.Trainer.Benchmarks;

/// <summary>Writes the networks <c>trainer bench</c> measured as model packages (seeded, untrained weights: inference
/// costs the same as after training), so <c>inspectiond bench</c> can time the daemon on exactly these architectures.</summary>
internal static class BenchPackages
{
    /// <summary>Writes a classifier of <paramref name="classifier"/> and the U-Net, both made current.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public static void Write(string modelsDirectory, BenchModel classifier, BenchModel segmenter, int classifierSize, int segmenterSize, TextWriter log)
    {
        foreach (var (model, size) in new[] { (classifier, classifierSize), (segmenter, segmenterSize) })
        {
            torch.manual_seed(42);
            using var module = model.Create();
            var written = ModelPackageWriter.Write(modelsDirectory, module, new PackageContent
            {
                Task = model.Task,
                Arch = model.Arch,
                Input = new InputSpec { Width = size, Height = size, Channels = 1, Colour = "grey", Mean = [0.5f], Std = [0.25f] },
                Output = new OutputSpec { Name = model.Task == ModelTasks.Classifier ? "logit" : "mask_logit", Kind = OutputKind.Logit },
                Threshold = new ThresholdSpec { Value = 0.5 },
                Version = $"bench-{model.Arch}-{size}-{DateTime.UtcNow:yyyyMMddHHmmss}",
            }, makeCurrent: true, log: log);
            log.WriteLine($"trainer bench: wrote {written.Package.Directory} (untrained, for timing only)");
        }
    }
}
