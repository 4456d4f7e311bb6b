using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>Activation after a convolution.</summary>
internal enum Activation
{
    /// <summary>Linear (no activation), e.g. MobileNetV2's projection layers.</summary>
    None,

    /// <summary>max(0, x).</summary>
    Relu,

    /// <summary>min(max(0, x), 6), MobileNetV2's activation.</summary>
    Relu6,
}

/// <summary>Convolution without bias, batch norm, activation: the unit all networks here are built from. The exporter
/// folds the batch norm into the convolution.</summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class ConvBn : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;
    private readonly Activation _activation;

    /// <summary>A k×k convolution with "same" padding for odd k.</summary>
    public ConvBn(long inChannels, long outChannels, long kernel, long stride = 1, long groups = 1, Activation activation = Activation.Relu6)
        : base(nameof(ConvBn))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: false);
        bn = nn.BatchNorm2d(outChannels);
        _activation = activation;
        RegisterComponents();
    }

    /// <summary>The convolution (for the pretrained import).</summary>
    internal Conv2d Conv => conv;

    /// <summary>The batch norm after it (for the pretrained import).</summary>
    internal BatchNorm2d Norm => bn;

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = TorchOwnership.DisposeScope)]
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var y = bn.forward(conv.call(input)); // call, not forward: runs hooks (trainer bench counts multiply-accumulates with them)
        y = _activation switch
        {
            Activation.Relu => nn.functional.relu(y),
            Activation.Relu6 => nn.functional.relu6(y),
            _ => y,
        };
        return y.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => graph.Activation(_activation, graph.Conv(conv, bn, input));
}

/// <summary>Runs exportable modules one after another (an exportable <c>Sequential</c>).</summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class Chain : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> layers;

    /// <summary>Chains the given modules; each must also be <see cref="IOnnxExportable"/>.</summary>
    public Chain(IEnumerable<nn.Module<Tensor, Tensor>> modules)
        : base(nameof(Chain))
    {
        layers = new ModuleList<nn.Module<Tensor, Tensor>>([.. modules]);
        foreach (var m in layers)
        {
            if (m is not IOnnxExportable)
            {
                throw new ArgumentException($"{m.GetType().Name} cannot be exported to ONNX");
            }
        }

        RegisterComponents();
    }

    /// <summary>The chained modules in order.</summary>
    internal IEnumerable<nn.Module<Tensor, Tensor>> Layers => layers;

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "Each layer's output is the chain's own intermediate once the next layer has run; the caller's input is never disposed.")]
    public override Tensor forward(Tensor input)
    {
        var x = input;
        foreach (var layer in layers)
        {
            var next = layer.forward(x);
            if (!ReferenceEquals(x, input))
            {
                x.Dispose();
            }

            x = next;
        }

        return ReferenceEquals(x, input) ? input.alias() : x;
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input)
    {
        var x = input;
        foreach (var layer in layers)
        {
            x = ((IOnnxExportable)layer).ExportOnnx(graph, x);
        }

        return x;
    }
}
