using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Packaging;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.EndToEnd.Tests.Fixtures;

/// <summary>Model packages written by the trainer's exporter and package writer, as the daemon finds them.</summary>
public static class TrainerPackages
{
    /// <summary>The input every test package takes: 64×64 grey.</summary>
    public static readonly InputSpec Input = new() { Width = 64, Height = 64, Channels = 1, Colour = "grey", Mean = [0.5f], Std = [0.25f] };

    /// <summary>Writes a package, made current unless <paramref name="makeCurrent"/> is false; returns its folder.</summary>
    public static string Write(string models, nn.Module<Tensor, Tensor> model, string task, string version, double threshold = 0.5, bool makeCurrent = true, string? cam = null) =>
        ModelPackageWriter.Write(models, model, new PackageContent
        {
            Task = task,
            Arch = task == ModelTasks.Classifier ? Architectures.MobileNetV2 : "one-conv",
            Version = version,
            Input = Input,
            Output = new OutputSpec { Name = task == ModelTasks.Classifier ? "logit" : "mask_logit", Kind = OutputKind.Logit, Cam = cam },
            Threshold = new ThresholdSpec { Value = threshold },
        }, makeCurrent, log: TextWriter.Null).Package.Directory;

    /// <summary>
    /// Writes classifier packages for later hot swaps, not yet current. Tests make them before a daemon starts: TorchSharp
    /// work while the daemon's threads allocate can hit TorchSharp's Scalar finalizer race (docs/decisions/no-gc-training-regions.md).
    /// </summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public static IReadOnlyList<string> WriteClassifiers(string models, params int[] versions) =>
        versions.Select(version =>
        {
            torch.manual_seed(version);
            using var classifier = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.25);
            return Write(models, classifier, ModelTasks.Classifier, $"c{version}", makeCurrent: false);
        }).ToList();

    /// <summary>Writes a MobileNetV2 classifier and a one-convolution segmenter and makes both current.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public static void WriteBoth(string models, string version, double classifierThreshold = 0.5)
    {
        torch.manual_seed(7);
        using var classifier = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.25);
        using var segmenter = new OneConvSegmenter();
        Write(models, classifier, ModelTasks.Classifier, "c" + version, classifierThreshold);
        Write(models, segmenter, ModelTasks.Segmenter, "s" + version);
    }
}

/// <summary>The smallest segmentation network: one 3×3 convolution giving a logit per pixel, exported by the trainer's
/// ONNX exporter like any of its models.</summary>
internal sealed class OneConvSegmenter : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly TorchSharp.Modules.Conv2d _conv = nn.Conv2d(1, 1, 3, padding: 1);

    public OneConvSegmenter()
        : base(nameof(OneConvSegmenter)) => RegisterComponents();

    public override Tensor forward(Tensor input) => _conv.forward(input);

    public string ExportOnnx(OnnxGraph graph, string input) => graph.Conv(_conv, null, input);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _conv.Dispose();
        }

        base.Dispose(disposing);
    }
}
