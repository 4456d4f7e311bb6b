using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>An encoder that yields feature maps at strides 2, 4, 8, 16 and 32 (for U-Net decoders and classifiers).</summary>
internal interface IFeatureEncoder
{
    /// <summary>Channels of the five feature maps (strides 2, 4, 8, 16, 32).</summary>
    IReadOnlyList<long> FeatureChannels { get; }

    /// <summary>Feature maps at strides 2, 4, 8, 16 and 32; the caller owns them.</summary>
    Tensor[] Features(Tensor input);

    /// <summary>Appends the encoder and returns the names of the five feature maps.</summary>
    string[] ExportFeatures(OnnxGraph graph, string input);

    /// <summary>The last (stride-32) feature map alone; the others are freed.</summary>
    static Tensor Bottleneck(IFeatureEncoder encoder, Tensor input)
    {
        var features = encoder.Features(input);
        for (var i = 0; i < features.Length - 1; i++)
        {
            features[i].Dispose();
        }

        return features[^1];
    }
}

/// <summary>
/// The ResNet-18 feature extractor of the ImageNet-trained package the trainer imports (He et al. 2016, as exported
/// from CNTK): 7×7/2 stem, 3×3/2 max pool, basic blocks [2, 2, 2, 3] — three in the last stage — at widths 64, 128,
/// 256, 512, 1×1 projection shortcuts, batch norm. Feature maps at strides 2 (stem), 4, 8, 16 and 32 (last stage).
/// Inputs whose sides are multiples of 32 give the same numbers as the CNTK graph's asymmetric padding.
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class ResNet18Encoder : nn.Module<Tensor, Tensor>, IOnnxExportable, IFeatureEncoder
{
    /// <summary>Basic blocks per stage.</summary>
    public static IReadOnlyList<int> BlocksPerStage { get; } = [2, 2, 2, 3];

    /// <summary>Input sides must be multiples of this (the last stage's stride).</summary>
    public const int SizeMultiple = 32;

    private readonly ConvBn stem;
    private readonly StemPool pool;
    private readonly ModuleList<Chain> stages;

    /// <summary>Builds the encoder (random weights) for 1- or 3-channel input.</summary>
    public ResNet18Encoder(long inChannels)
        : base(nameof(ResNet18Encoder))
    {
        InChannels = inChannels;
        stem = new ConvBn(inChannels, 64, 7, stride: 2, activation: Activation.Relu);
        pool = new StemPool();
        var built = new List<Chain>();
        long channels = 64;
        for (var stage = 0; stage < BlocksPerStage.Count; stage++)
        {
            var width = 64L << stage;
            var blocks = new List<nn.Module<Tensor, Tensor>>();
            for (var i = 0; i < BlocksPerStage[stage]; i++)
            {
                blocks.Add(new BasicBlock(channels, width, stage > 0 && i == 0 ? 2 : 1));
                channels = width;
            }

            built.Add(new Chain(blocks));
        }

        stages = new ModuleList<Chain>([.. built]);
        RegisterComponents();
    }

    /// <summary>Input channels (1 grey, 3 colour).</summary>
    public long InChannels { get; }

    /// <inheritdoc />
    public IReadOnlyList<long> FeatureChannels { get; } = [64, 64, 128, 256, 512];

    /// <summary>Channels of the last feature map.</summary>
    public long OutChannels => FeatureChannels[^1];

    /// <summary>The conv+BN units in the order the CNTK graph lists them (stem, then each block's).</summary>
    internal IEnumerable<ConvBn> UnitsInCntkOrder =>
        new[] { stem }.Concat(stages.SelectMany(s => s.Layers.Cast<BasicBlock>().SelectMany(b => b.Units)));

    /// <summary>Throws when a side is not a positive multiple of <see cref="SizeMultiple"/>.</summary>
    public static void CheckInputSize(int width, int height)
    {
        if (width <= 0 || height <= 0 || width % SizeMultiple != 0 || height % SizeMultiple != 0)
        {
            throw new ArgumentException($"ResNet-18 input size must be a positive multiple of {SizeMultiple} on each side, got {width}x{height}");
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => IFeatureEncoder.Bottleneck(this, input);

    /// <inheritdoc />
    public Tensor[] Features(Tensor input)
    {
        var features = new Tensor[1 + stages.Count];
        features[0] = stem.forward(input);
        using (var pooled = pool.forward(features[0]))
        {
            features[1] = stages[0].forward(pooled);
        }

        for (var i = 1; i < stages.Count; i++)
        {
            features[i + 1] = stages[i].forward(features[i]);
        }

        return features;
    }

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => ExportFeatures(graph, input)[^1];

    /// <inheritdoc />
    public string[] ExportFeatures(OnnxGraph graph, string input)
    {
        var names = new string[1 + stages.Count];
        names[0] = stem.ExportOnnx(graph, input);
        var x = pool.ExportOnnx(graph, names[0]);
        for (var i = 0; i < stages.Count; i++)
        {
            x = stages[i].ExportOnnx(graph, x);
            names[i + 1] = x;
        }

        return names;
    }

    /// <summary>
    /// Freezes (or unfreezes) the encoder: no gradients, and its batch norms keep their running statistics, so a head
    /// trained on top first adapts to features that do not move under it.
    /// </summary>
    public void Freeze(bool frozen, bool modelTraining)
    {
        foreach (var parameter in parameters())
        {
            parameter.requires_grad = !frozen;
        }

        if (frozen)
        {
            eval();
        }
        else if (modelTraining)
        {
            train();
        }
    }
}

/// <summary>A network made of a (pretrained) backbone and a small head trained on top of it.</summary>
internal interface IHasBackbone
{
    /// <summary>The feature extractor.</summary>
    nn.Module Backbone { get; }

    /// <summary>The head's input for a batch: the backbone's pooled features.</summary>
    Tensor PooledFeatures(Tensor input);

    /// <summary>The head alone, on pooled features.</summary>
    Linear Head { get; }

    /// <summary>Freezes (no gradients, batch norm statistics kept) or unfreezes the backbone.</summary>
    void FreezeBackbone(bool frozen);
}

/// <summary>
/// ResNet-18 classifier: backbone (last feature map, stride 32, 512 channels) → global average pooling → one linear
/// logit. The head reads the pooled features only, so the logit is the average of the head applied at each position of
/// the feature map (what a class activation map shows).
/// </summary>
[SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TorchOwnership.Submodules)]
internal sealed class ResNet18Classifier : nn.Module<Tensor, Tensor>, IOnnxExportable, IHasBackbone, IPooledClassifier
{
    private readonly ResNet18Encoder backbone;
    private readonly Linear fc;

    /// <summary>Builds the classifier with random weights; <see cref="Pretrained.ImageNetResNet18"/> loads the backbone.</summary>
    public ResNet18Classifier(long inChannels)
        : base(nameof(ResNet18Classifier))
    {
        backbone = new ResNet18Encoder(inChannels);
        fc = nn.Linear(backbone.OutChannels, 1);
        RegisterComponents();
    }

    /// <summary>The feature extractor.</summary>
    public ResNet18Encoder Backbone => backbone;

    /// <inheritdoc />
    nn.Module IHasBackbone.Backbone => backbone;

    /// <summary>The linear head on the pooled features.</summary>
    public Linear Head => fc;

    /// <inheritdoc />
    public void FreezeBackbone(bool frozen) => backbone.Freeze(frozen, training);

    /// <summary>The 512-d globally average-pooled features.</summary>
    public Tensor PooledFeatures(Tensor input)
    {
        using var map = backbone.forward(input);
        return map.mean([2L, 3L]);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return fc.call(PooledFeatures(input)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor FeatureMap(Tensor input) => backbone.forward(input);

    /// <inheritdoc />
    public string ExportFeatureMap(OnnxGraph graph, string input) => backbone.ExportOnnx(graph, input);

    /// <inheritdoc />
    public string ExportOnnx(OnnxGraph graph, string input) => PooledClassifier.ExportLogit(this, graph, input);
}
