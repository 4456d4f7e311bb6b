using System.Globalization;
using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

/// <summary>
/// The Trainer:* defaults are what a site gets when its config leaves them out; docs/configuration.md's config table and the
/// example config promise them. These tests pin the code to both.
/// </summary>
public sealed class TrainerDefaultsTests : IDisposable
{
    private readonly TempDirectory _dir = new("trainer-defaults");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_config_without_trainer_keys_gets_the_documented_defaults()
    {
        var path = _dir.Combine("empty.json");
        File.WriteAllText(path, "{}");

        var t = ConfigLoader.Load(path, new Dictionary<string, string?>()).Trainer;

        Assert.Equal((0.99, 42, 0.15, 0.15, 0), (t.RecallTarget, t.Seed, t.ValidationFraction, t.TestFraction, t.Threads));
        // The ImageNet-pretrained ResNet-18, input size from the data (docs/transfer-learning.md).
        Assert.Equal(("resnet18", 0, 10, 32, 0.5), Settings(t.Classifier));
        // U-Net on the ImageNet-pretrained ResNet-18 with a slim decoder (docs/transfer-learning.md).
        Assert.Equal(("unet-resnet18", 256, 20, 8, 0.35), Settings(t.Segmenter));
    }

    [Fact]
    public void A_config_naming_only_the_data_keeps_the_other_defaults()
    {
        var path = _dir.Combine("data-only.json");
        File.WriteAllText(path, """{ "Trainer": { "Segmenter": { "Data": "/data/seg" } } }""");

        var segmenter = ConfigLoader.Load(path, new Dictionary<string, string?>()).Trainer.Segmenter;

        Assert.Equal("/data/seg", segmenter.Data);
        Assert.Equal(Settings(new TrainerOptions().Segmenter), Settings(segmenter));
    }

    [Fact]
    public void Example_config_lists_the_trainer_defaults()
    {
        var example = ConfigLoader.Load(Repository.ExampleConfig, new Dictionary<string, string?>()).Trainer;
        var defaults = new TrainerOptions();

        Assert.Equal(defaults.RecallTarget, example.RecallTarget);
        Assert.Equal(Settings(defaults.Classifier), Settings(example.Classifier));
        Assert.Equal(Settings(defaults.Segmenter), Settings(example.Segmenter));
    }

    [Theory]
    [InlineData("Trainer:Classifier")]
    [InlineData("Trainer:Segmenter")]
    public void Configuration_doc_table_shows_the_code_defaults(string key)
    {
        var defaults = new TrainerOptions();
        var task = key.EndsWith("Classifier", StringComparison.Ordinal) ? defaults.Classifier : defaults.Segmenter;
        var row = File.ReadLines(Path.Combine(Repository.Root, "docs", "configuration.md"))
            .Single(l => l.StartsWith($"| `{key}:{{Data,Arch,ImageSize,Epochs,BatchSize,WidthMultiplier}}` |", StringComparison.Ordinal));

        var documented = row.Split('|')[2].Trim();

        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"—, {task.Arch}, {task.ImageSize}, {task.Epochs}, {task.BatchSize}, {task.WidthMultiplier}"), documented);
    }

    private static (string Arch, int ImageSize, int Epochs, int BatchSize, double WidthMultiplier) Settings(TrainerTaskOptions t) =>
        (t.Arch, t.ImageSize, t.Epochs, t.BatchSize, t.WidthMultiplier);
}
