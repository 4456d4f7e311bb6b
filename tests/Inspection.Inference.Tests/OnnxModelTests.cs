using Inspection.Config.Models;
using Inspection.TestSupport;

namespace Inspection.Inference.Tests;

public sealed class OnnxModelTests : IDisposable
{
    private readonly TempDirectory _dir = new("inference");

    [Fact]
    public void Classifier_score_is_the_sigmoid_of_the_graphs_logit()
    {
        using var model = OnnxModel.Load(ModelPackage.Open(TinyOnnx.WritePackage(_dir.Path, ModelTasks.Classifier, "v1", 0.5)));
        using var runner = new OnnxRunner(model);

        // TinyOnnx's classifier: logit = 20 * (mean - 0.5); an image of 0.6 everywhere gives logit 2.
        var image = Enumerable.Repeat(0.6f, TinyOnnx.Size * TinyOnnx.Size).ToArray();
        Assert.Equal(1 / (1 + Math.Exp(-2.0)), runner.Score(image), 5);
    }

    [Fact]
    public void Output_that_does_not_match_the_manifests_kind_is_refused_at_load()
    {
        var dir = TinyOnnx.WritePackage(_dir.Path, ModelTasks.Classifier, "v1", 0.5);
        var manifestPath = Path.Combine(dir, ModelPackage.ManifestFile);
        var manifest = ModelManifest.Load(manifestPath);
        (manifest with { Output = manifest.Output with { Kind = OutputKind.TwoClassLogits } }).Save(manifestPath);

        var ex = Assert.Throws<ModelPackageException>(() => OnnxModel.Load(ModelPackage.Open(dir)));
        Assert.Contains("two_class_logits", ex.Message.Replace("TwoClassLogits", "two_class_logits", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("[1,2]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_that_loads_but_fails_to_run_is_refused_by_warm_up_naming_the_package()
    {
        var dir = TinyOnnx.WritePackage(_dir.Path, ModelTasks.Classifier, "bad", 0.5, onnxBytes: TinyOnnx.FailsAtRun(TinyOnnx.Size));
        using var model = OnnxModel.Load(ModelPackage.Open(dir));

        var ex = Assert.Throws<ModelPackageException>(model.WarmUp);
        Assert.Contains(Path.Combine(dir, ModelPackage.OnnxFile), ex.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();
}
