using Inspection.Config.Models;
using Inspection.Inference;

namespace Inspection.Daemon.Inference;

/// <summary>Input and output tensors of one <see cref="ModelSet"/> for one caller: one <see cref="OnnxRunner"/> per
/// model, so a frame costs no tensor allocations. When both models take the same input they share one input tensor,
/// so a frame is preprocessed once and never copied.</summary>
internal sealed class ModelBuffers : IDisposable
{
    private readonly OnnxRunner _classifier;
    private readonly OnnxRunner _segmenter;

    public ModelBuffers(ModelSet models)
    {
        Models = models;
        _classifier = new OnnxRunner(models.Classifier);
        SharedInput = SameInput(models.Classifier.Manifest.Input, models.Segmenter.Manifest.Input);
        _segmenter = new OnnxRunner(models.Segmenter, SharedInput ? _classifier.Input : null);
    }

    public ModelSet Models { get; }

    /// <summary>True when <see cref="SegmenterInput"/> is <see cref="ClassifierInput"/>.</summary>
    public bool SharedInput { get; }

    public float[] ClassifierInput => _classifier.Input;

    public float[] ClassifierOutput => _classifier.Output;

    /// <summary>The classifier's class activation map of the last run, when its package has one; else null.</summary>
    public float[]? ClassifierCam => _classifier.Cam;

    public float[] SegmenterInput => _segmenter.Input;

    public float[] SegmenterOutput => _segmenter.Output;

    public void RunClassifier() => _classifier.Run();

    public void RunSegmenter() => _segmenter.Run();

    private static bool SameInput(InputSpec a, InputSpec b) =>
        a.Width == b.Width && a.Height == b.Height && a.Channels == b.Channels && a.Colour == b.Colour && a.Resize == b.Resize
        && a.Mean.AsSpan().SequenceEqual(b.Mean) && a.Std.AsSpan().SequenceEqual(b.Std);

    public void Dispose()
    {
        _classifier.Dispose();
        _segmenter.Dispose();
    }
}
