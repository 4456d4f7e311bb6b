using Inspection.Config.Models;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Pretrained;

/// <summary>
/// Loads the ImageNet-trained ResNet-18 (<see cref="PretrainedFiles"/>) into a <see cref="ResNet18Encoder"/>. Each
/// Conv node and the BatchNormalization after it, in graph order, fill the encoder's next conv+BN unit; every shape is
/// checked and a mismatch names the ONNX tensor. The package's preprocessing (RGB 0–255 → BGR minus the per-channel
/// mean) is folded into the stem, so the network takes the Camera preprocessor's normalised tensor:
/// with x_c = (p_c/255 − m_c)/s_c, the network's input p_c − μ_c = 255·s_c·x_c + (255·m_c − μ_c). The scale goes into
/// the stem's weights and the constant, through them, into its batch norm's running mean. With
/// <see cref="InputSpecFor"/>'s m_c = μ_c/255 the constant is zero and zero padding means the same in both, so the fold
/// is exact at the borders too. Grey input sums the colour filters.
/// </summary>
internal static class ImageNetResNet18
{
    // ImageNet's usual pixel standard deviations (R, G, B); any positive value works (it is folded into the stem),
    // these keep the normalised input near unit scale.
    private static readonly float[] StdRgb = [0.229f, 0.224f, 0.225f];

    /// <summary>The per-channel means (B, G, R, on 0–255) of the package's 224×224 mean image.</summary>
    public static double[] ChannelMeansBgr(string? directory = null)
    {
        var file = PretrainedFiles.ResNetPreprocess;
        var prep = Parse(file, directory);
        var sub = prep.Nodes.FirstOrDefault(n => n.OpType == "Sub")
            ?? throw new PretrainedException($"{file.Name}: no Sub node (the mean subtraction)");
        var concat = prep.Nodes.FirstOrDefault(n => n.OpType == "Concat");
        var split = prep.Nodes.FirstOrDefault(n => n.OpType == "Split");
        if (concat is null || split is null || !concat.Inputs.SequenceEqual(split.Outputs.Reverse()))
        {
            throw new PretrainedException($"{file.Name}: expected a Split into R, G, B and a Concat in B, G, R order");
        }

        var mean = sub.Inputs.Skip(1).Select(n => prep.Initializers.GetValueOrDefault(n)).FirstOrDefault(i => i is not null)
            ?? throw new PretrainedException($"{file.Name}: the Sub node's mean is not an initializer");
        if (mean.Dims is not [1, 3, > 0, > 0])
        {
            throw new PretrainedException($"{file.Name}: mean image '{mean.Name}' has shape [{string.Join(", ", mean.Dims)}], expected [1, 3, H, W]");
        }

        var plane = (int)(mean.Dims[2] * mean.Dims[3]);
        return [.. Enumerable.Range(0, 3).Select(c => mean.Values.Skip(c * plane).Take(plane).Average(v => (double)v))];
    }

    /// <summary>The input normalisation whose fold is exact: mean μ/255 (RGB order; their average for grey).</summary>
    public static InputSpec InputSpecFor(int channels, int width, int height, string resize, string? directory = null)
    {
        var bgr = ChannelMeansBgr(directory);
        var (mean, std) = channels switch
        {
            3 => (new[] { (float)(bgr[2] / 255), (float)(bgr[1] / 255), (float)(bgr[0] / 255) }, StdRgb),
            1 => (new[] { (float)(bgr.Average() / 255) }, new[] { StdRgb.Average() }),
            _ => throw new ArgumentException($"the pretrained ResNet-18 takes 1 or 3 channels, not {channels}"),
        };
        return new InputSpec { Width = width, Height = height, Channels = channels, Colour = channels == 1 ? "grey" : "rgb", Mean = mean, Std = std, Resize = resize };
    }

    /// <summary>Fills <paramref name="encoder"/> with the pretrained weights for input normalised by <paramref name="spec"/>.</summary>
    public static void Load(ResNet18Encoder encoder, InputSpec spec, string? directory = null)
    {
        if (spec.Channels != encoder.InChannels || (spec.Channels == 3) != (spec.Colour == "rgb"))
        {
            throw new ArgumentException($"input spec ({spec.Channels} channel(s), {spec.Colour}) does not fit an encoder for {encoder.InChannels} channel(s)");
        }

        var meansBgr = ChannelMeansBgr(directory);
        var file = PretrainedFiles.ResNet18;
        var model = Parse(file, directory);
        var sources = Units(model, file.Name);
        var targets = encoder.UnitsInCntkOrder.ToList();
        if (sources.Count != targets.Count)
        {
            throw new PretrainedException($"{file.Name}: {sources.Count} convolution + batch norm units, a ResNet-18 [{string.Join(", ", ResNet18Encoder.BlocksPerStage)}] has {targets.Count}");
        }

        using var noGrad = no_grad();
        // The copies and the stem fold are TorchSharp calls with temporary Scalars: keep collections (which the 64 MB
        // parse above invites) out of them, as for training steps.
        using var noCollection = Training.NoCollection.Enter();
        for (var i = 0; i < targets.Count; i++)
        {
            var (weight, scale, bias, mean, variance) = sources[i];
            var unit = targets[i];
            Copy(unit.Norm.weight!, scale, file.Name);
            Copy(unit.Norm.bias!, bias, file.Name);
            Copy(unit.Norm.running_var!, variance, file.Name);
            Copy(unit.Norm.running_mean!, mean, file.Name);
            if (i == 0)
            {
                LoadStem(unit, weight, spec, meansBgr, file.Name);
            }
            else
            {
                Copy(unit.Conv.weight!, weight, file.Name);
            }
        }
    }

    private static OnnxModelReader Parse(PretrainedFile file, string? directory)
    {
        var bytes = file.ReadVerified(directory);
        try
        {
            return OnnxModelReader.Read(bytes);
        }
        catch (FormatException ex)
        {
            throw new PretrainedException($"{file.Name}: not a readable ONNX model ({ex.Message})");
        }
    }

    /// <summary>Each Conv node with the BatchNormalization that reads it: (weight, scale, bias, mean, variance).</summary>
    private static List<(OnnxInitializer Weight, OnnxInitializer Scale, OnnxInitializer Bias, OnnxInitializer Mean, OnnxInitializer Variance)> Units(OnnxModelReader model, string fileName)
    {
        OnnxInitializer Init(string name) => model.Initializers.GetValueOrDefault(name)
            ?? throw new PretrainedException($"{fileName}: tensor '{name}' is not an initializer");
        var units = new List<(OnnxInitializer, OnnxInitializer, OnnxInitializer, OnnxInitializer, OnnxInitializer)>();
        foreach (var conv in model.Nodes.Where(n => n.OpType == "Conv"))
        {
            if (conv.Inputs.Count != 2)
            {
                throw new PretrainedException($"{fileName}: Conv '{conv.Outputs[0]}' has a bias; expected batch norm after a bias-free convolution");
            }

            var bn = model.Nodes.FirstOrDefault(n => n.OpType == "BatchNormalization" && n.Inputs[0] == conv.Outputs[0])
                ?? throw new PretrainedException($"{fileName}: Conv '{conv.Outputs[0]}' is not followed by a BatchNormalization");
            units.Add((Init(conv.Inputs[1]), Init(bn.Inputs[1]), Init(bn.Inputs[2]), Init(bn.Inputs[3]), Init(bn.Inputs[4])));
        }

        return units;
    }

    private static void LoadStem(ConvBn stem, OnnxInitializer weight, InputSpec spec, double[] meansBgr, string fileName)
    {
        var target = stem.Conv.weight!;
        if (weight.Dims is not [var outChannels, 3, var kh, var kw] || outChannels != target.shape[0] || kh != target.shape[2] || kw != target.shape[3])
        {
            throw new PretrainedException($"{fileName}: stem weight '{weight.Name}' has shape [{string.Join(", ", weight.Dims)}], expected [{target.shape[0]}, 3, {target.shape[2]}, {target.shape[3]}]");
        }

        var kernel = (int)(kh * kw);
        var channels = spec.Channels;
        var folded = new float[outChannels * channels * kernel];
        var offsets = new double[outChannels];
        for (var o = 0; o < outChannels; o++)
        {
            for (var c = 0; c < channels; c++)
            {
                // Tensor channel c is R, G, B (or grey); the file's input channels are B, G, R.
                int[] sourceChannels = channels == 3 ? [2 - c] : [0, 1, 2];
                foreach (var b in sourceChannels)
                {
                    for (var k = 0; k < kernel; k++)
                    {
                        double w = weight.Values[(((o * 3) + b) * kernel) + k];
                        folded[(((o * channels) + c) * kernel) + k] += (float)(w * 255 * spec.Std[c]);
                        offsets[o] += w * ((255.0 * spec.Mean[c]) - meansBgr[b]);
                    }
                }
            }
        }

        using var foldedWeights = tensor(folded, target.shape);
        target.copy_(foldedWeights);

        // BN(conv(y)) with conv(y) = conv'(x) + offset: the offset moves into the running mean (already the file's).
        var runningMean = stem.Norm.running_mean!;
        using var offsetTensor = tensor(offsets.Select(v => (float)v).ToArray(), runningMean.shape);
        runningMean.sub_(offsetTensor);
    }

    private static void Copy(Tensor target, OnnxInitializer source, string fileName)
    {
        if (!target.shape.SequenceEqual(source.Dims))
        {
            throw new PretrainedException($"{fileName}: tensor '{source.Name}' has shape [{string.Join(", ", source.Dims)}], the network expects [{string.Join(", ", target.shape)}]");
        }

        using var values = tensor(source.Values, target.shape);
        target.copy_(values);
    }
}
