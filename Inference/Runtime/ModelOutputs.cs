using Inspection.Config.Models;

namespace Inspection.Inference;

/// <summary>Turns a model's raw output into defect probabilities according to its manifest's <see cref="OutputKind"/>:
/// the one place that knows what each kind means.</summary>
public static class ModelOutputs
{
    /// <summary>Values per image (classifier) or planes per pixel (segmenter) that <paramref name="kind"/> implies.</summary>
    public static int ValuesPerSample(OutputKind kind) => kind is OutputKind.TwoClassLogits or OutputKind.TwoClassProbabilities ? 2 : 1;

    /// <summary>A classifier's defect probability from its output for one image.</summary>
    public static double Probability(ReadOnlySpan<float> output, OutputKind kind) => kind switch
    {
        OutputKind.Logit => Sigmoid(output[0]),
        OutputKind.Probability => output[0],
        OutputKind.TwoClassLogits => SoftmaxDefect(output[0], output[1]),
        OutputKind.TwoClassProbabilities => output[1],
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown output kind"),
    };

    /// <summary>A segmenter's per-pixel defect probabilities from its output for one image (one or two H×W planes).</summary>
    public static void PixelProbabilities(ReadOnlySpan<float> output, OutputKind kind, Span<float> map)
    {
        var plane = map.Length;
        if (output.Length < plane * ValuesPerSample(kind))
        {
            throw new ArgumentException($"output holds {output.Length} values, {ValuesPerSample(kind)} plane(s) of {plane} pixels need more", nameof(output));
        }

        for (var i = 0; i < plane; i++)
        {
            map[i] = kind switch
            {
                OutputKind.Logit => 1f / (1f + MathF.Exp(-output[i])),
                OutputKind.Probability => output[i],
                OutputKind.TwoClassLogits => (float)SoftmaxDefect(output[i], output[plane + i]),
                _ => output[plane + i],
            };
        }
    }

    private static double Sigmoid(float logit) => 1.0 / (1.0 + Math.Exp(-logit));

    private static double SoftmaxDefect(float good, float defect)
    {
        var max = Math.Max(good, defect);
        var e0 = Math.Exp(good - max);
        var e1 = Math.Exp(defect - max);
        return e1 / (e0 + e1);
    }
}
