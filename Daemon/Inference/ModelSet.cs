using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Inference;

namespace Inspection.Daemon.Inference;

/// <summary>The classifier and segmenter that serve together. Reference-counted so a hot swap can retire the old
/// pair while a frame is still being inspected with it; the sessions are disposed when the last user lets go.</summary>
public sealed class ModelSet
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
        CheckTask(classifierPackage, ModelTasks.Classifier);
        CheckTask(segmenterPackage, ModelTasks.Segmenter);
        var classifier = OnnxModel.Load(classifierPackage, options.Threads, providers);
        try
        {
            var segmenter = OnnxModel.Load(segmenterPackage, options.Threads, providers);
            try
            {
                classifier.WarmUp();
                segmenter.WarmUp();
            }
            catch
            {
                segmenter.Dispose();
                throw;
            }

            return new ModelSet(classifier, segmenter);
        }
        catch
        {
            classifier.Dispose();
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
