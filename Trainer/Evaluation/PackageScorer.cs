using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Inference;

namespace Inspection.Trainer.Evaluation;

/// <summary>
/// Scores images with a package's <c>model.onnx</c> through Inspection.Inference (the daemon's preprocessor, session
/// settings and output decoding): exactly what the daemon would compute. Used by <c>trainer eval</c> and by the quality gate to
/// measure the model being replaced.
/// </summary>
internal static class PackageScorer
{
    /// <summary>Opens a package folder (or a models folder's <c>classifier/current</c>); errors name the folder.</summary>
    public static ModelPackage Open(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new ModelPackageException($"{full}: model folder does not exist");
        }

        var current = Path.Combine(full, ModelTasks.Classifier, ModelPackage.CurrentLink);
        return Directory.Exists(current) && !File.Exists(Path.Combine(full, ModelPackage.ManifestFile))
            ? ModelPackage.OpenCurrent(full, ModelTasks.Classifier)
            : ModelPackage.Open(full);
    }

    /// <summary>Defect probabilities for <paramref name="images"/>, one image at a time through the shared
    /// <see cref="OnnxRunner"/>: bit-identical to what the daemon computes for the same decoded image.</summary>
    public static double[] Score(ModelPackage package, IReadOnlyList<LabelledImage> images, int threads = 0) =>
        Score(package, TensorSet.Build(images, package.Manifest.Input), threads);

    /// <summary>Defect probabilities for tensors already preprocessed with the package's input spec.</summary>
    public static double[] Score(ModelPackage package, TensorSet set, int threads = 0)
    {
        if (package.Manifest.Task != ModelTasks.Classifier)
        {
            throw new ModelPackageException($"{package.Directory}: is a {package.Manifest.Task} package, not a classifier");
        }

        using var model = OnnxModel.Load(package, threads);
        using var runner = new OnnxRunner(model);
        return set.Tensors.Select(t => runner.Score(t)).ToArray();
    }
}
