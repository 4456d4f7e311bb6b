using Inspection.Config.Models;
using Inspection.Trainer.Datasets.Classification;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Trainer.Evaluation;

/// <summary>
/// Scores images with a package's <c>model.onnx</c> in ONNX Runtime, preprocessed by its manifest's input spec through
/// Camera's preprocessor: exactly what the daemon would compute. Used by <c>trainer eval</c> and by the quality gate to
/// measure the model being replaced.
/// </summary>
public static class PackageScorer
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

    /// <summary>Defect probabilities for <paramref name="images"/>.</summary>
    public static double[] Score(ModelPackage package, IReadOnlyList<LabelledImage> images, int batchSize = 16)
    {
        if (package.Manifest.Task != ModelTasks.Classifier)
        {
            throw new ModelPackageException($"{package.Directory}: is a {package.Manifest.Task} package, not a classifier");
        }

        var set = TensorSet.Build(images, package.Manifest.Input);
        var spec = package.Manifest.Input;
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(package.OnnxPath, options);
        using var runOptions = new RunOptions();
        var scores = new double[images.Count];
        var length = spec.Channels * spec.Height * spec.Width;
        for (var start = 0; start < images.Count; start += batchSize)
        {
            var n = Math.Min(batchSize, images.Count - start);
            var data = new float[n * length];
            for (var i = 0; i < n; i++)
            {
                set.Tensors[start + i].CopyTo(data, i * length);
            }

            using var input = OrtValue.CreateTensorValueFromMemory(data, [n, spec.Channels, spec.Height, spec.Width]);
            using var results = session.Run(runOptions, [spec.Name], [input], [package.Manifest.Output.Name]);
            var output = results[0].GetTensorDataAsSpan<float>();
            for (var i = 0; i < n; i++)
            {
                scores[start + i] = package.Manifest.Output.Kind == "logit" ? 1 / (1 + Math.Exp(-output[i])) : output[i];
            }
        }

        return scores;
    }
}
