using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>
/// The classifier contract: a backbone's last feature map → global average pooling → one Linear head (one logit).
/// Pooling and the head are both linear, so the head applied at every position of the feature map (a 1×1 convolution
/// with its weights, plus its bias) is the class activation map (Zhou et al., "Learning deep features for
/// discriminative localization", 2016): one logit per position, whose mean is the image's logit.
/// </summary>
internal interface IPooledClassifier
{
    /// <summary>The last feature map, N×C×h×w (what the head sees before pooling).</summary>
    Tensor FeatureMap(Tensor input);

    /// <summary>The head, C → 1.</summary>
    Linear Head { get; }

    /// <summary>Appends the ops of <see cref="FeatureMap"/>; returns the feature map's name.</summary>
    string ExportFeatureMap(OnnxGraph graph, string input);
}

/// <summary>What every <see cref="IPooledClassifier"/> computes from its feature map, in TorchSharp and in ONNX.</summary>
internal static class PooledClassifier
{
    /// <summary>The ONNX output name of the class activation map.</summary>
    public const string CamOutput = "cam";

    /// <summary>The logit from a feature map: global average pooling, then the head.</summary>
    public static Tensor Logit(IPooledClassifier model, Tensor featureMap) => model.Head.call(featureMap.mean([2L, 3L]));

    /// <summary>The class activation map N×1×h×w of <paramref name="input"/>.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public static Tensor Cam(IPooledClassifier model, Tensor input)
    {
        using var scope = NewDisposeScope();
        var weight = model.Head.weight!;
        return nn.functional.conv2d(model.FeatureMap(input), weight.reshape(weight.shape[0], weight.shape[1], 1, 1), model.Head.bias).MoveToOuterDisposeScope();
    }

    /// <summary>Appends the logit's ops (GlobalAveragePool, Flatten, Gemm) and returns its name.</summary>
    public static string ExportLogit(IPooledClassifier model, OnnxGraph graph, string input) => ExportBoth(model, graph, input, cam: false).Logit;

    /// <summary>Appends the logit's and the class activation map's ops on one feature map; returns both names.</summary>
    public static (string Logit, string? Cam) ExportBoth(IPooledClassifier model, OnnxGraph graph, string input, bool cam = true)
    {
        var map = model.ExportFeatureMap(graph, input);
        var logit = graph.Linear(model.Head, graph.Flatten(graph.GlobalAveragePool(map)));
        return (logit, cam ? graph.LinearAsConv(model.Head, map) : null);
    }
}
