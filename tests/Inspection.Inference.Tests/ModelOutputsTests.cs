using System.Text.Json;
using Inspection.Config.Models;

namespace Inspection.Inference.Tests;

public sealed class ModelOutputsTests
{
    [Fact]
    public void Each_output_kind_becomes_the_defect_probability()
    {
        Assert.Equal(1 / (1 + Math.Exp(-1.5)), ModelOutputs.Probability([1.5f], OutputKind.Logit), 12);
        Assert.Equal(0.25, ModelOutputs.Probability([0.25f], OutputKind.Probability), 12);
        Assert.Equal(Math.Exp(2.0) / (Math.Exp(0.5) + Math.Exp(2.0)), ModelOutputs.Probability([0.5f, 2f], OutputKind.TwoClassLogits), 12);
        Assert.Equal(0.75, ModelOutputs.Probability([0.25f, 0.75f], OutputKind.TwoClassProbabilities), 12);
    }

    [Fact]
    public void Two_class_pixel_maps_take_the_defect_plane()
    {
        // Two pixels; plane 0 is "good", plane 1 is "defect".
        var map = new float[2];
        ModelOutputs.PixelProbabilities([0f, 3f, 1f, 0f], OutputKind.TwoClassLogits, map);
        Assert.Equal((float)(Math.E / (1 + Math.E)), map[0], 6);
        Assert.Equal((float)(1 / (1 + Math.Exp(3))), map[1], 6);

        ModelOutputs.PixelProbabilities([0.9f, 0.2f, 0.1f, 0.8f], OutputKind.TwoClassProbabilities, map);
        Assert.Equal([0.1f, 0.8f], map);
    }

    [Theory]
    [InlineData("logit", OutputKind.Logit)]
    [InlineData("probability", OutputKind.Probability)]
    [InlineData("two_class_logits", OutputKind.TwoClassLogits)]
    [InlineData("two_class_probabilities", OutputKind.TwoClassProbabilities)]
    public void Manifest_output_kind_is_snake_case_text(string text, OutputKind kind)
    {
        var spec = JsonSerializer.Deserialize<OutputSpec>($$"""{"name": "out", "kind": "{{text}}"}""", ModelManifest.JsonOptions)!;
        Assert.Equal(kind, spec.Kind);
        Assert.Contains($"\"{text}\"", JsonSerializer.Serialize(spec, ModelManifest.JsonOptions), StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_output_kind_is_refused_not_guessed()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<OutputSpec>("""{"name": "out", "kind": "softmax"}""", ModelManifest.JsonOptions));
    }
}
