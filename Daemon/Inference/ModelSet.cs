using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Inference;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Daemon.Inference;

/// <summary>The classifier and segmenter that serve together. Reference-counted so a hot swap can retire the old
/// pair while a frame is still being inspected with it; the sessions are disposed when the last user lets go.</summary>
internal sealed class ModelSet
{
    private int _references = 1;

    private ModelSet(OnnxModel classifier, OnnxModel segmenter)
    {
        Classifier = classifier;
        Segmenter = segmenter;
    }

    public OnnxModel Classifier { get; }

    public OnnxModel Segmenter { get; }

    public string Provider => Classifier.Provider == "cuda" || Segmenter.Provider == "cuda" ? "cuda" : "cpu";

    /// <summary>Opens both <c>current</c> packages (hash checked), creates the sessions and warms them up.</summary>
    public static ModelSet LoadCurrent(ModelsOptions options, ProviderChoice providers) =>
        Load(ModelPackage.OpenCurrent(options.Directory, ModelTasks.Classifier), ModelPackage.OpenCurrent(options.Directory, ModelTasks.Segmenter), options, providers);

    public static ModelSet Load(ModelPackage classifierPackage, ModelPackage segmenterPackage, ModelsOptions options, ProviderChoice providers)
    {
        var classifier = LoadOne(classifierPackage, ModelTasks.Classifier, options, providers);
        try
        {
            return new ModelSet(classifier, LoadOne(segmenterPackage, ModelTasks.Segmenter, options, providers));
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>
    /// At start: each task's <c>current</c> package, or, when that one cannot be loaded or warmed up, the newest other
    /// package of the task that can (skipping packages the trainer's gate refused). Every fallback is described in
    /// <paramref name="fallbacks"/>; throws when a task has no usable package at all.
    /// </summary>
    public static ModelSet LoadCurrentOrFallback(ModelsOptions options, ProviderChoice providers, List<string> fallbacks)
    {
        var classifier = LoadFirstUsable(ModelTasks.Classifier, options, providers, fallbacks);
        try
        {
            return new ModelSet(classifier, LoadFirstUsable(ModelTasks.Segmenter, options, providers, fallbacks));
        }
        catch
        {
            classifier.Dispose();
            throw;
        }
    }

    /// <summary>True for a load failure that refuses one package (any ONNX Runtime error included), not a bug.</summary>
    public static bool IsPackageFailure(Exception ex) =>
        ex is ModelPackageException or OnnxRuntimeException or IOException or UnauthorizedAccessException;

    private static OnnxModel LoadFirstUsable(string task, ModelsOptions options, ProviderChoice providers, List<string> fallbacks)
    {
        var current = ModelPackage.ResolveCurrent(options.Directory, task);
        var errors = new List<string>();
        foreach (var directory in Candidates(options.Directory, task, current))
        {
            try
            {
                var model = LoadOne(ModelPackage.Open(directory), task, options, providers);
                if (directory != current)
                {
                    fallbacks.Add($"{task}: current {(current is null ? "is missing" : $"({current}) is unusable: {errors[0]}")}; serving the newest usable package {model.Manifest.Version} ({directory}) instead");
                }

                return model;
            }
            catch (Exception ex) when (IsPackageFailure(ex))
            {
                errors.Add(ex.Message);
            }
        }

        throw new ModelPackageException(errors.Count == 0
            ? $"{Path.Combine(options.Directory, task, ModelPackage.CurrentLink)}: no current {task} package (train one with 'trainer', or point Models:Directory at a folder that has one)"
            : $"no usable {task} package in {Path.Combine(options.Directory, task)}: {string.Join("; ", errors)}");
    }

    // current first, then the other versions newest first (by their manifest's time on disk); packages the gate
    // refused are no fallback (one made current with --force is).
    private static IEnumerable<string> Candidates(string modelsDirectory, string task, string? current)
    {
        if (current is not null)
        {
            yield return current;
        }

        var taskDirectory = new DirectoryInfo(Path.Combine(modelsDirectory, task));
        if (!taskDirectory.Exists)
        {
            yield break;
        }

        var others = taskDirectory.EnumerateDirectories()
            .Where(d => !d.Name.StartsWith('.') && d.Name != ModelPackage.CurrentLink && d.LinkTarget is null && d.FullName != current)
            .Select(d => (d.FullName, Manifest: new FileInfo(Path.Combine(d.FullName, ModelPackage.ManifestFile))))
            .Where(d => d.Manifest.Exists)
            .OrderByDescending(d => d.Manifest.LastWriteTimeUtc);
        foreach (var (directory, _) in others)
        {
            if (!RefusedByGate(directory))
            {
                yield return directory;
            }
        }
    }

    private static bool RefusedByGate(string directory)
    {
        try
        {
            return ModelManifest.Load(Path.Combine(directory, ModelPackage.ManifestFile)).Gate is { Passed: false, Forced: false };
        }
        catch (ModelPackageException)
        {
            return false; // unreadable: loading it will say why
        }
    }

    private static OnnxModel LoadOne(ModelPackage package, string task, ModelsOptions options, ProviderChoice providers)
    {
        CheckTask(package, task);
        var model = ThreadName.While(ThreadName.OnnxWorkers, () => OnnxModel.Load(package, options.Threads, providers));
        try
        {
            model.WarmUp();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static void CheckTask(ModelPackage package, string task)
    {
        if (package.Manifest.Task != task)
        {
            throw new ModelPackageException($"{package.Directory}: manifest task is '{package.Manifest.Task}', expected '{task}'");
        }
    }

    public bool TryAcquire()
    {
        var current = Volatile.Read(ref _references);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Classifier.Dispose();
            Segmenter.Dispose();
        }
    }
}
