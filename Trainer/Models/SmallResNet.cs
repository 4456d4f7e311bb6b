using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>ResNet's basic block: two 3×3 conv+BN, identity (or 1×1 projection) shortcut, ReLU after the sum.</summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly ConvBn conv1;
    private readonly ConvBn conv2;
    private readonly ConvBn? shortcut;

    /// <summary>One block; a projection shortcut is added when stride or width changes.</summary>
    public BasicBlock(long inChannels, long outChannels, long stride)
        : base(nameof(BasicBlock))
    {
        conv1 = new ConvBn(inChannels, outChannels, 3, stride, activation: Activation.Relu);
        conv2 = new ConvBn(outChannels, outChannels, 3, activation: Activation.None);
        if (stride != 1 || inChannels != outChannels)
        {
            shortcut = new ConvBn(inChannels, outChannels, 1, stride, activation: Activation.None);
        }

        RegisterComponents();
    }

    /// <summary>The block's conv+BN units in the order a CNTK export lists them: projection shortcut first.</summary>
    internal IEnumerable<ConvBn> Units => shortcut is null ? [conv1, conv2] : [shortcut, conv1, conv2];

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var y = conv2.forward(conv1.forward(input));
        var skip = shortcut is null ? input : shortcut.forward(input);
        return nn.functional.relu(y.add(skip)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input)
    {
        var y = conv2.ExportOnnx(graph, conv1.ExportOnnx(graph, input));
        var skip = shortcut is null ? input : shortcut.ExportOnnx(graph, input);
        return graph.Activation(Activation.Relu, graph.Add(y, skip));
    }
}

/// <summary>3×3/2 max pooling with padding 1 (ResNet's stem).</summary>
internal sealed class StemPool : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Creates the pooling layer.</summary>
    public StemPool()
        : base(nameof(StemPool))
    {
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => nn.functional.max_pool2d(input, 3, 2, 1);

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => graph.MaxPool(input, 3, 2, 1);
}

/// <summary>
/// A small ResNet (He et al. 2016) for one logit: 3×3/2 stem, max pool, four stages of basic blocks at widths
/// w, 2w, 4w, 8w (w = 64 × width multiplier), global average pooling, linear layer.
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class SmallResNet : nn.Module<Tensor, Tensor>, IOnnxExportable, IPooledClassifier
{
    private readonly Chain features;
    private readonly Linear fc;

    /// <summary>Builds the network; <paramref name="blocksPerStage"/> is 1 (ResNet-10-like) by default.</summary>
    public SmallResNet(long inChannels, double widthMultiplier, int blocksPerStage = 1)
        : base(nameof(SmallResNet))
    {
        var width = MobileNetV2Encoder.MakeDivisible(64 * widthMultiplier);
        var layers = new List<nn.Module<Tensor, Tensor>> { new ConvBn(inChannels, width, 3, stride: 2, activation: Activation.Relu), new StemPool() };
        var channels = width;
        for (var stage = 0; stage < 4; stage++)
        {
            var outChannels = width << stage;
            for (var i = 0; i < blocksPerStage; i++)
            {
                layers.Add(new BasicBlock(channels, outChannels, stage > 0 && i == 0 ? 2 : 1));
                channels = outChannels;
            }
        }

        features = new Chain(layers);
        fc = nn.Linear(channels, 1);
        RegisterComponents();
    }

    /// <inheritdoc />
    public Linear Head => fc;

    /// <inheritdoc />
    public Tensor FeatureMap(Tensor input) => features.forward(input);

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return PooledClassifier.Logit(this, FeatureMap(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string ExportFeatureMap(OnnxGraph graph, string input) => features.ExportOnnx(graph, input);

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => PooledClassifier.ExportLogit(this, graph, input);
}
