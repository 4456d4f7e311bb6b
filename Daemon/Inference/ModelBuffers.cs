using Inspection.Inference;

namespace Inspection.Daemon.Inference;

/// <summary>Input and output tensors of one <see cref="ModelSet"/> for one caller: one <see cref="OnnxRunner"/> per
/// model, so a frame costs no tensor allocations.</summary>
public sealed class ModelBuffers : IDisposable
{
    private readonly OnnxRunner _classifier;
    private readonly OnnxRunner _segmenter;

    public ModelBuffers(ModelSet models)
    {
        Models = models;
        _classifier = new OnnxRunner(models.Classifier);
        _segmenter = new OnnxRunner(models.Segmenter);
    }

    public ModelSet Models { get; }

    public float[] ClassifierInput => _classifier.Input;

    public float[] ClassifierOutput => _classifier.Output;

    /// <summary>The classifier's class activation map of the last run, when its package has one; else null.</summary>
    public float[]? ClassifierCam => _classifier.Cam;

    public float[] SegmenterInput => _segmenter.Input;

    public float[] SegmenterOutput => _segmenter.Output;

    public void RunClassifier() => _classifier.Run();

    public void RunSegmenter() => _segmenter.Run();

    public void Dispose()
    {
        _classifier.Dispose();
        _segmenter.Dispose();
    }
}
