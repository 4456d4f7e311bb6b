using Inspection.Config.Models;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

public sealed class ModelPackageTests : IDisposable
{
    private readonly TempDirectory _dir = new("package");

    public void Dispose() => _dir.Dispose();

    private string WritePackage(string version, byte[] onnx, Func<ModelManifest, ModelManifest>? edit = null)
    {
        var folder = _dir.Combine(ModelTasks.Classifier, version);
        Directory.CreateDirectory(folder);
        var onnxPath = Path.Combine(folder, ModelPackage.OnnxFile);
        File.WriteAllBytes(onnxPath, onnx);
        var manifest = new ModelManifest
        {
            Task = ModelTasks.Classifier,
            Version = version,
            CreatedAt = DateTimeOffset.UtcNow,
            Input = new InputSpec { Width = 64, Height = 48, Channels = 1, Mean = [0.5f], Std = [0.25f] },
            Output = new OutputSpec(),
            Threshold = new ThresholdSpec { Value = 0.3, RecallTarget = 0.99, Recall = 0.995, RecallLowerBound = 0.97, Positives = 200 },
            OnnxSha256 = ModelManifest.Sha256Of(onnxPath),
        };
        (edit?.Invoke(manifest) ?? manifest).Save(Path.Combine(folder, ModelPackage.ManifestFile));
        return folder;
    }

    [Fact]
    public void Manifest_round_trips_in_snake_case()
    {
        var folder = WritePackage("v1", [1, 2, 3]);

        var text = File.ReadAllText(Path.Combine(folder, ModelPackage.ManifestFile));
        var package = ModelPackage.Open(folder);

        Assert.Contains("\"onnx_sha256\"", text, StringComparison.Ordinal);
        Assert.Contains("\"recall_lower_bound\": 0.97", text, StringComparison.Ordinal);
        Assert.Equal(64, package.Manifest.Input.Width);
        Assert.Equal(0.3, package.Manifest.Threshold.Value);
        Assert.Equal(200, package.Manifest.Threshold.Positives);
    }

    [Fact]
    public void A_replaced_onnx_file_is_refused_by_hash()
    {
        var folder = WritePackage("v1", [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(folder, ModelPackage.OnnxFile), [9, 9, 9]);

        var ex = Assert.Throws<ModelPackageException>(() => ModelPackage.Open(folder));

        Assert.Contains("does not match", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_manifest_fields_are_named()
    {
        var folder = WritePackage("v1", [1], m => m with { Threshold = m.Threshold with { Value = 1.5 } });

        var ex = Assert.Throws<ModelPackageException>(() => ModelPackage.Open(folder));

        Assert.Contains("threshold.value", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_manifest_is_not_a_package()
    {
        var ex = Assert.Throws<ModelPackageException>(() => ModelPackage.Open(_dir.Path));
        Assert.Contains("not a model package", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Current_link_switches_between_versions()
    {
        var v1 = WritePackage("v1", [1]);
        var v2 = WritePackage("v2", [2]);
        Assert.Null(ModelPackage.ResolveCurrent(_dir.Path, ModelTasks.Classifier));

        ModelPackage.MakeCurrent(_dir.Path, ModelTasks.Classifier, v1);
        Assert.Equal("v1", ModelPackage.OpenCurrent(_dir.Path, ModelTasks.Classifier).Manifest.Version);

        ModelPackage.MakeCurrent(_dir.Path, ModelTasks.Classifier, v2);
        Assert.Equal("v2", ModelPackage.OpenCurrent(_dir.Path, ModelTasks.Classifier).Manifest.Version);
        Assert.Equal(v2, ModelPackage.ResolveCurrent(_dir.Path, ModelTasks.Classifier));

        // No temp links are left behind.
        Assert.Equal(["current", "v1", "v2"], Directory.EnumerateFileSystemEntries(_dir.Combine(ModelTasks.Classifier)).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Missing_current_package_says_how_to_get_one()
    {
        var ex = Assert.Throws<ModelPackageException>(() => ModelPackage.OpenCurrent(_dir.Path, ModelTasks.Segmenter));
        Assert.Contains("trainer", ex.Message, StringComparison.Ordinal);
    }
}
