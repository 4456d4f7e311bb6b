using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>MobileNetV2's inverted residual: 1×1 expansion, 3×3 depthwise, linear 1×1 projection, skip when shapes match.</summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class InvertedResidual : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly Chain body;
    private readonly bool _residual;

    /// <summary>One block; <paramref name="expansion"/> is the hidden width factor t of the paper.</summary>
    public InvertedResidual(long inChannels, long outChannels, long stride, long expansion)
        : base(nameof(InvertedResidual))
    {
        var hidden = inChannels * expansion;
        var layers = new List<nn.Module<Tensor, Tensor>>();
        if (expansion != 1)
        {
            layers.Add(new ConvBn(inChannels, hidden, 1));
        }

        layers.Add(new ConvBn(hidden, hidden, 3, stride, groups: hidden));
        layers.Add(new ConvBn(hidden, outChannels, 1, activation: Activation.None));
        body = new Chain(layers);
        _residual = stride == 1 && inChannels == outChannels;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (!_residual)
        {
            return body.forward(input);
        }

        using var y = body.forward(input);
        return y.add(input);
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input)
    {
        var y = body.ExportOnnx(graph, input);
        return _residual ? graph.Add(y, input) : y;
    }
}

/// <summary>
/// The MobileNetV2 feature extractor (Sandler et al. 2018) with a width multiplier, split into five stages whose outputs
/// have strides 2, 4, 8, 16 and 32 (the bottleneck). <see cref="forward"/> returns the bottleneck;
/// <see cref="Features"/> returns all five, for decoders such as a U-Net.
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class MobileNetV2Encoder : nn.Module<Tensor, Tensor>, IOnnxExportable, IFeatureEncoder
{
    // (expansion t, channels c, repeats n, first stride s) from the paper's table 2.
    private static readonly (int T, int C, int N, int S)[] Settings =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

    // Which settings rows end each stride stage: stride 2 after row 0, 4 after 1, 8 after 2, 16 after 4, 32 after 6.
    private static readonly int[] StageEnds = [0, 1, 2, 4, 6];

    private readonly ModuleList<Chain> stages;

    /// <summary>Builds the encoder for 1- or 3-channel input.</summary>
    public MobileNetV2Encoder(long inChannels, double widthMultiplier)
        : base(nameof(MobileNetV2Encoder))
    {
        if (widthMultiplier <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(widthMultiplier), widthMultiplier, "width multiplier must be > 0");
        }

        var built = new List<Chain>();
        var current = new List<nn.Module<Tensor, Tensor>>();
        var channels = MakeDivisible(32 * widthMultiplier);
        current.Add(new ConvBn(inChannels, channels, 3, stride: 2));
        var featureChannels = new List<long>();
        for (var row = 0; row < Settings.Length; row++)
        {
            var (t, c, n, s) = Settings[row];
            var outChannels = MakeDivisible(c * widthMultiplier);
            for (var i = 0; i < n; i++)
            {
                current.Add(new InvertedResidual(channels, outChannels, i == 0 ? s : 1, t));
                channels = outChannels;
            }

            if (StageEnds.Contains(row))
            {
                built.Add(new Chain(current));
                featureChannels.Add(channels);
                current = [];
            }
        }

        stages = new ModuleList<Chain>([.. built]);
        FeatureChannels = featureChannels;
        RegisterComponents();
    }

    /// <summary>Channels of the five feature maps (strides 2, 4, 8, 16, 32).</summary>
    public IReadOnlyList<long> FeatureChannels { get; }

    /// <summary>Strides of the five feature maps relative to the input.</summary>
    public static IReadOnlyList<int> FeatureStrides { get; } = [2, 4, 8, 16, 32];

    /// <summary>Channels of the bottleneck (stride 32).</summary>
    public long OutChannels => FeatureChannels[^1];

    /// <summary>Rounds a scaled channel count to a multiple of 8, never more than 10% below the scaled value (as in the reference implementation).</summary>
    public static long MakeDivisible(double value, int divisor = 8)
    {
        var rounded = Math.Max(divisor, ((long)(value + (divisor / 2.0)) / divisor) * divisor);
        return rounded < 0.9 * value ? rounded + divisor : rounded;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => IFeatureEncoder.Bottleneck(this, input);

    /// <summary>Feature maps at strides 2, 4, 8, 16 and 32; the caller owns them.</summary>
    public Tensor[] Features(Tensor input)
    {
        var features = new Tensor[stages.Count];
        var x = input;
        for (var i = 0; i < stages.Count; i++)
        {
            x = stages[i].forward(x);
            features[i] = x;
        }

        return features;
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => ExportFeatures(graph, input)[^1];

    /// <summary>Appends the encoder and returns the names of the five feature maps (strides 2 … 32).</summary>
    public string[] ExportFeatures(OnnxGraph graph, string input)
    {
        var names = new string[stages.Count];
        var x = input;
        for (var i = 0; i < stages.Count; i++)
        {
            x = stages[i].ExportOnnx(graph, x);
            names[i] = x;
        }

        return names;
    }
}

/// <summary>MobileNetV2 classifier: encoder, 1×1 head convolution, global average pooling, dropout, one logit.</summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class MobileNetV2Classifier : nn.Module<Tensor, Tensor>, IOnnxExportable, IPooledClassifier
{
    private readonly MobileNetV2Encoder encoder;
    private readonly ConvBn head;
    private readonly Dropout dropout;
    private readonly Linear fc;

    /// <summary>Builds the classifier; the head is 1280 channels (more when the width multiplier exceeds 1), as in the paper.</summary>
    public MobileNetV2Classifier(long inChannels, double widthMultiplier, double dropoutRate = 0.2)
        : base(nameof(MobileNetV2Classifier))
    {
        encoder = new MobileNetV2Encoder(inChannels, widthMultiplier);
        var last = MobileNetV2Encoder.MakeDivisible(1280 * Math.Max(1.0, widthMultiplier));
        head = new ConvBn(encoder.OutChannels, last, 1);
        dropout = nn.Dropout(dropoutRate);
        fc = nn.Linear(last, 1);
        RegisterComponents();
    }

    /// <summary>The feature extractor (shared with the U-Net segmenter).</summary>
    public MobileNetV2Encoder Encoder => encoder;

    /// <inheritdoc />
    public Linear Head => fc;

    /// <inheritdoc />
    public Tensor FeatureMap(Tensor input)
    {
        using var scope = NewDisposeScope();
        return head.forward(encoder.forward(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return fc.call(dropout.forward(FeatureMap(input).mean([2L, 3L]))).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string ExportFeatureMap(OnnxGraph graph, string input) => head.ExportOnnx(graph, encoder.ExportOnnx(graph, input));

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => PooledClassifier.ExportLogit(this, graph, input);
}
