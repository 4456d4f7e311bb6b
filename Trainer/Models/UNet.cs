using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>
/// One U-Net decoder step: a 2×2 transposed convolution doubles the resolution (+ batch norm + ReLU), the encoder's
/// feature map of that resolution is concatenated, and a 3×3 convolution (+ batch norm + ReLU) fuses the two.
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class UpBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly ConvTranspose2d up;
    private readonly BatchNorm2d upBn;
    private readonly ConvBn fuse;

    /// <summary>Upsamples <paramref name="inChannels"/> to <paramref name="outChannels"/>, then fuses with a skip of <paramref name="skipChannels"/>.</summary>
    public UpBlock(long inChannels, long skipChannels, long outChannels)
        : base(nameof(UpBlock))
    {
        up = nn.ConvTranspose2d(inChannels, outChannels, 2, stride: 2, bias: false);
        upBn = nn.BatchNorm2d(outChannels);
        fuse = new ConvBn(outChannels + skipChannels, outChannels, 3, activation: Activation.Relu);
        RegisterComponents();
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public override Tensor forward(Tensor input, Tensor skip)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(upBn.forward(up.call(input)));
        return fuse.forward(cat([x, skip], 1)).MoveToOuterDisposeScope();
    }

    /// <summary>Appends the block's ops; returns its output's name.</summary>
    public string ExportOnnx(OnnxGraph graph, string input, string skip)
    {
        var x = graph.Activation(Activation.Relu, graph.ConvTranspose(up, upBn, input));
        return fuse.ExportOnnx(graph, graph.Concat(1, x, skip));
    }
}

/// <summary>
/// U-Net for binary segmentation with a MobileNetV2 or (ImageNet-pretrainable) ResNet-18 encoder (skips at strides 2,
/// 4, 8, 16 and the stride-32 bottleneck) and a decoder of transposed convolution + batch norm + ReLU steps with skip concatenation, ending in one
/// logit per input pixel. The decoder's widths are the classic 256/128/64/32 (+16 at full resolution) times the width
/// multiplier, so a small multiplier shrinks the whole network, not only the encoder: the classic fixed 512/256/128/64
/// decoder alone would cost most of the compute of a small model.
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class UNet : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Decoder widths at width multiplier 1, from stride 16 up to full resolution.</summary>
    public static IReadOnlyList<int> DecoderWidths { get; } = [256, 128, 64, 32, 16];

    /// <summary>Input sides must be multiples of this (the bottleneck's stride).</summary>
    public const int SizeMultiple = 32;

    private readonly nn.Module<Tensor, Tensor> encoder;
    private readonly IFeatureEncoder _features;
    private readonly ModuleList<UpBlock> decoder;
    private readonly ConvTranspose2d finalUp;
    private readonly BatchNorm2d finalBn;
    private readonly Conv2d head;

    /// <summary>
    /// Builds the network for 1- or 3-channel input with the encoder <paramref name="arch"/> names
    /// (<see cref="Architectures.SegmenterNames"/>); the width multiplier scales the decoder, and the MobileNetV2 encoder
    /// too (the ResNet-18 has the pretrained network's fixed widths).
    /// </summary>
    public UNet(long inChannels, double widthMultiplier, string arch = Architectures.UNetMobileNetV2)
        : base(nameof(UNet))
    {
        (encoder, _features) = arch switch
        {
            Architectures.UNetMobileNetV2 => Pair(new MobileNetV2Encoder(inChannels, widthMultiplier)),
            Architectures.UNetResNet18 => Pair(new ResNet18Encoder(inChannels)),
            _ => throw new ArgumentException($"unknown segmenter architecture '{arch}' (known: {string.Join(", ", Architectures.SegmenterNames)})"),
        };
        var widths = DecoderWidths.Select(w => MobileNetV2Encoder.MakeDivisible(w * widthMultiplier)).ToArray();
        var skips = _features.FeatureChannels;
        var blocks = new List<UpBlock>();
        var channels = skips[^1];
        for (var i = 0; i < 4; i++)
        {
            // Step i goes from stride 32/2^i to 16/2^i and takes the encoder's map of that stride (skips[3 - i]).
            blocks.Add(new UpBlock(channels, skips[3 - i], widths[i]));
            channels = widths[i];
        }

        decoder = new ModuleList<UpBlock>([.. blocks]);
        finalUp = nn.ConvTranspose2d(channels, widths[4], 2, stride: 2, bias: false);
        finalBn = nn.BatchNorm2d(widths[4]);
        head = nn.Conv2d(widths[4], 1, 1);
        RegisterComponents();
    }

    /// <summary>The feature extractor (frozen for the first epochs when fine-tuning).</summary>
    public nn.Module<Tensor, Tensor> Encoder => encoder;

    /// <summary>The encoder's five feature maps (strides 2 … 32).</summary>
    public IFeatureEncoder FeatureEncoder => _features;

    /// <summary>Throws when a side is not a positive multiple of <see cref="SizeMultiple"/>.</summary>
    public static void CheckInputSize(int width, int height)
    {
        if (width <= 0 || height <= 0 || width % SizeMultiple != 0 || height % SizeMultiple != 0)
        {
            throw new ArgumentException($"U-Net input size must be a positive multiple of {SizeMultiple} on each side, got {width}x{height}");
        }
    }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var features = _features.Features(input);
        var x = features[^1];
        for (var i = 0; i < decoder.Count; i++)
        {
            x = decoder[i].forward(x, features[3 - i]);
        }

        x = nn.functional.relu(finalBn.forward(finalUp.call(x)));
        return head.call(x).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input)
    {
        var features = _features.ExportFeatures(graph, input);
        var x = features[^1];
        for (var i = 0; i < decoder.Count; i++)
        {
            x = decoder[i].ExportOnnx(graph, x, features[3 - i]);
        }

        x = graph.Activation(Activation.Relu, graph.ConvTranspose(finalUp, finalBn, x));
        return graph.Conv(head, null, x);
    }

    private static (nn.Module<Tensor, Tensor>, IFeatureEncoder) Pair<T>(T encoder)
        where T : nn.Module<Tensor, Tensor>, IFeatureEncoder => (encoder, encoder);
}
