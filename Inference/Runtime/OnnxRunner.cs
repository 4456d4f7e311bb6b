using Inspection.Config.Models;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Inference;

/// <summary>
/// One caller's input and output tensors for one <see cref="OnnxModel"/>, batch 1: managed arrays wrapped once as
/// <see cref="OrtValue"/>s (pinned for their lifetime), so a run costs no tensor allocations. Every consumer scores one
/// image at a time through this, so the trainer's gate, <c>trainer eval</c> and the daemon get bit-identical numbers.
/// Not thread-safe; one per thread of work.
/// </summary>
public sealed class OnnxRunner : IDisposable
{
    private readonly OrtValue[] _in;
    private readonly OrtValue[] _out;
    private readonly RunOptions _runOptions = new();

    /// <summary>Allocates the buffers for <paramref name="model"/>; with <paramref name="sharedInput"/> (another
    /// runner's <see cref="Input"/> of the same length) both models read the one tensor, so it is filled once.</summary>
    public OnnxRunner(OnnxModel model, float[]? sharedInput = null)
    {
        if (sharedInput is not null && sharedInput.Length != model.InputLength)
        {
            throw new ArgumentException($"a shared input holds {sharedInput.Length} floats, {model.Package.OnnxPath} takes {model.InputLength}", nameof(sharedInput));
        }

        Model = model;
        Input = sharedInput ?? new float[model.InputLength];
        Output = new float[model.OutputLength];
        _in = [OrtValue.CreateTensorValueFromMemory(Input, model.InputShape)];
        _out = [OrtValue.CreateTensorValueFromMemory(Output, model.OutputShape)];
        if (model.CamShape is { } camShape)
        {
            Cam = new float[model.CamLength];
            _out = [.. _out, OrtValue.CreateTensorValueFromMemory(Cam, camShape)];
        }
    }

    /// <summary>The model this runs.</summary>
    public OnnxModel Model { get; }

    /// <summary>The NCHW input tensor of one image; fill it (e.g. with a <see cref="Preprocessing.Preprocessor"/>) before <see cref="Run"/>.</summary>
    public float[] Input { get; }

    /// <summary>The raw output of the last <see cref="Run"/>.</summary>
    public float[] Output { get; }

    /// <summary>The class activation map of the last <see cref="Run"/> (h×w logits, row-major), when the package has one; else null.</summary>
    public float[]? Cam { get; }

    /// <summary>Runs the model on <see cref="Input"/> into <see cref="Output"/>; an ONNX Runtime error becomes a
    /// <see cref="ModelPackageException"/> naming the package.</summary>
    public void Run()
    {
        try
        {
            Model.Session.Run(_runOptions, Model.InputNames, _in, Model.OutputNames, _out);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelPackageException($"{Model.Package.OnnxPath}: ONNX Runtime failed running the model: {ex.Message}");
        }
    }

    /// <summary>Runs <paramref name="tensor"/> (one image's NCHW floats) and returns the classifier's defect probability.</summary>
    public double Score(ReadOnlySpan<float> tensor)
    {
        tensor.CopyTo(Input);
        Run();
        return ModelOutputs.Probability(Output, Model.Manifest.Output.Kind);
    }

    /// <summary>Releases the tensors.</summary>
    public void Dispose()
    {
        _in[0].Dispose();
        foreach (var value in _out)
        {
            value.Dispose();
        }

        _runOptions.Dispose();
    }
}
