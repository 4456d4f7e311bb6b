using Inspection.Config.Models;
using Inspection.Config.Options;

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
        var classifier = OnnxModel.Load(classifierPackage, options, providers);
        try
        {
            var segmenter = OnnxModel.Load(segmenterPackage, options, providers);
            var set = new ModelSet(classifier, segmenter);
            set.WarmUp();
            return set;
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

    // The first Run allocates ONNX Runtime's arenas and picks kernels; do it before the first real frame.
    private void WarmUp()
    {
        using var buffers = new ModelBuffers(this);
        for (var i = 0; i < 2; i++)
        {
            buffers.RunClassifier();
            buffers.RunSegmenter();
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
