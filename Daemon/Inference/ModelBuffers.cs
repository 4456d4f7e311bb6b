using Microsoft.ML.OnnxRuntime;

namespace Inspection.Daemon.Inference;

/// <summary>Input and output tensors of one <see cref="ModelSet"/> for one caller: managed arrays wrapped once as
/// <see cref="OrtValue"/>s (pinned for their lifetime), so a frame costs no tensor allocations.</summary>
public sealed class ModelBuffers : IDisposable
{
    private readonly OrtValue[] _classifierIn;
    private readonly OrtValue[] _classifierOut;
    private readonly OrtValue[] _segmenterIn;
    private readonly OrtValue[] _segmenterOut;
    private readonly RunOptions _runOptions = new();

    public ModelBuffers(ModelSet models)
    {
        Models = models;
        ClassifierInput = new float[models.Classifier.InputShape.Aggregate(1L, (a, b) => a * b)];
        ClassifierOutput = new float[models.Classifier.OutputLength];
        SegmenterInput = new float[models.Segmenter.InputShape.Aggregate(1L, (a, b) => a * b)];
        SegmenterOutput = new float[models.Segmenter.OutputLength];
        _classifierIn = [OrtValue.CreateTensorValueFromMemory(ClassifierInput, models.Classifier.InputShape)];
        _classifierOut = [OrtValue.CreateTensorValueFromMemory(ClassifierOutput, models.Classifier.OutputShape)];
        _segmenterIn = [OrtValue.CreateTensorValueFromMemory(SegmenterInput, models.Segmenter.InputShape)];
        _segmenterOut = [OrtValue.CreateTensorValueFromMemory(SegmenterOutput, models.Segmenter.OutputShape)];
    }

    public ModelSet Models { get; }

    public float[] ClassifierInput { get; }

    public float[] ClassifierOutput { get; }

    public float[] SegmenterInput { get; }

    public float[] SegmenterOutput { get; }

    public void RunClassifier() =>
        Models.Classifier.Session.Run(_runOptions, Models.Classifier.InputNames, _classifierIn, Models.Classifier.OutputNames, _classifierOut);

    public void RunSegmenter() =>
        Models.Segmenter.Session.Run(_runOptions, Models.Segmenter.InputNames, _segmenterIn, Models.Segmenter.OutputNames, _segmenterOut);

    public void Dispose()
    {
        _classifierIn[0].Dispose();
        _classifierOut[0].Dispose();
        _segmenterIn[0].Dispose();
        _segmenterOut[0].Dispose();
        _runOptions.Dispose();
    }
}
