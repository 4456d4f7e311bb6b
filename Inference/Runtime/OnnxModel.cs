using Inspection.Config.Models;
using Inspection.Config.Options;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Inspection.Inference;

/// <summary>One model package's ONNX Runtime session, checked against its manifest. The daemon, <c>trainer eval</c>,
/// the trainer's quality gate and its threshold choice all open packages through this, with the same session settings,
/// so they compute the same numbers. Sessions are thread-safe; the buffers each caller runs with are its own
/// (<see cref="OnnxRunner"/>).</summary>
public sealed class OnnxModel : IDisposable
{
    private OnnxModel(ModelPackage package, InferenceSession session, string provider, long[] inputShape, long[] outputShape, long[]? camShape)
    {
        Package = package;
        Session = session;
        Provider = provider;
        InputShape = inputShape;
        OutputShape = outputShape;
        CamShape = camShape;
        InputNames = [session.InputNames[0]];
        OutputNames = camShape is null ? [session.OutputNames[0]] : [session.OutputNames[0], package.Manifest.Output.Cam!];
    }

    /// <summary>The package the session was created from.</summary>
    public ModelPackage Package { get; }

    /// <summary>The package's manifest.</summary>
    public ModelManifest Manifest => Package.Manifest;

    /// <summary>The ONNX Runtime session.</summary>
    public InferenceSession Session { get; }

    /// <summary><c>cuda</c> or <c>cpu</c>.</summary>
    public string Provider { get; }

    /// <summary>Input shape for one image: [1, C, H, W].</summary>
    public long[] InputShape { get; }

    /// <summary>Output shape for one image.</summary>
    public long[] OutputShape { get; }

    /// <summary>The ONNX input name, as the array Run takes.</summary>
    public string[] InputNames { get; }

    /// <summary>Shape of the class activation map for one image, [1, 1, h, w], when the manifest names one; else null.</summary>
    public long[]? CamShape { get; }

    /// <summary>The ONNX output names, as the array Run takes: the output, then the class activation map if any.</summary>
    public string[] OutputNames { get; }

    /// <summary>Creates the session, refusing a package whose ONNX input does not have the manifest's shape or whose
    /// output does not hold what the manifest's output kind says. Every ONNX Runtime error becomes a
    /// <see cref="ModelPackageException"/> naming the package.</summary>
    /// <param name="package">The package.</param>
    /// <param name="threads">Intra-op threads; 0: ONNX Runtime's default (one per physical core).</param>
    /// <param name="providers">Execution provider choice; null: CPU.</param>
    public static OnnxModel Load(ModelPackage package, int threads = 0, ProviderChoice? providers = null)
    {
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads > 0)
        {
            sessionOptions.IntraOpNumThreads = threads;
            sessionOptions.InterOpNumThreads = 1;
        }

        // ONNX Runtime's intra-op threads spin while they wait for work. The daemon runs two sessions per camera beside
        // decode and publishing on a few cores, so spinning threads take the cores the other session needs: switched
        // off, `inspectiond bench` (2-core VM, ResNet-18 + U-Net, 640x480) went from 28 to 43.5 fps end to end and the
        // process CPU per frame from 70 to 44 ms (docs/performance.md).
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");

        var provider = providers?.Apply(sessionOptions) ?? "cpu";
        InferenceSession session;
        try
        {
            session = new InferenceSession(package.OnnxPath, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelPackageException($"{package.OnnxPath}: ONNX Runtime cannot load the model: {ex.Message}");
        }

        try
        {
            var spec = package.Manifest.Input;
            var input = session.InputMetadata[session.InputNames[0]];
            var dims = input.Dimensions;
            var expected = new[] { 1, spec.Channels, spec.Height, spec.Width };
            var matches = dims.Length == 4 && (dims[0] is 1 or -1) && dims[1] == spec.Channels && dims[2] == spec.Height && dims[3] == spec.Width;
            if (!matches || input.ElementDataType != TensorElementType.Float)
            {
                throw new ModelPackageException(
                    $"{package.OnnxPath}: ONNX input '{session.InputNames[0]}' is {input.ElementDataType}[{string.Join(",", dims)}] but the manifest says float[{string.Join(",", expected)}] ({spec.Layout}); refusing the package");
            }

            // Symbolic dimensions (and an output whose shape ONNX Runtime could not infer) take the shape the
            // manifest's task and output kind imply; a graph that then computes something else fails at warm-up.
            var implied = ImpliedOutputShape(package.Manifest);
            var outputDims = session.OutputMetadata[session.OutputNames[0]].Dimensions;
            var outputShape = outputDims.Length == 0
                ? implied
                : outputDims.Select((d, i) => d > 0 ? d : i < implied.Length ? implied[i] : 1L).ToArray();
            CheckOutput(package, outputShape);
            return new OnnxModel(package, session, provider, expected.Select(d => (long)d).ToArray(), outputShape, CamShapeOf(package, session));
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static long[] ImpliedOutputShape(ModelManifest manifest)
    {
        var perSample = ModelOutputs.ValuesPerSample(manifest.Output.Kind);
        return manifest.Task == ModelTasks.Segmenter ? [1, perSample, manifest.Input.Height, manifest.Input.Width] : [1, perSample];
    }

    // An optional class activation map (classifier packages that name one): one plane at the feature map's resolution.
    private static long[]? CamShapeOf(ModelPackage package, InferenceSession session)
    {
        if (package.Manifest.Output.Cam is not { } name)
        {
            return null;
        }

        if (package.Manifest.Task != ModelTasks.Classifier || !session.OutputMetadata.TryGetValue(name, out var cam))
        {
            throw new ModelPackageException(
                $"{package.OnnxPath}: the manifest names a class activation map output '{name}' but the {package.Manifest.Task}'s graph has no such output (outputs: {string.Join(", ", session.OutputNames)}); refusing the package");
        }

        var dims = cam.Dimensions;
        if (dims.Length != 4 || dims[1] != 1 || dims[2] <= 0 || dims[3] <= 0)
        {
            throw new ModelPackageException($"{package.OnnxPath}: class activation map output '{name}' is [{string.Join(",", dims)}], not [N,1,h,w]; refusing the package");
        }

        return [1, 1, dims[2], dims[3]];
    }

    // The output kind fixes how many values per image (classifier) or planes per pixel (segmenter) there are.
    private static void CheckOutput(ModelPackage package, long[] shape)
    {
        var manifest = package.Manifest;
        var perSample = ModelOutputs.ValuesPerSample(manifest.Output.Kind);
        var ok = manifest.Task == ModelTasks.Segmenter
            ? shape.Length == 4 && shape[1] == perSample
            : shape.Length >= 1 && shape.Skip(1).Aggregate(1L, (a, b) => a * b) == perSample;
        if (!ok)
        {
            var expected = manifest.Task == ModelTasks.Segmenter ? $"[1,{perSample},H,W]" : $"[1,{perSample}]";
            throw new ModelPackageException(
                $"{package.OnnxPath}: ONNX output is [{string.Join(",", shape)}] but the manifest's output kind '{manifest.Output.Kind}' for a {manifest.Task} needs {expected}; refusing the package");
        }
    }

    /// <summary>Runs the model twice on a zero image: the first runs allocate ONNX Runtime's arenas and pick kernels,
    /// and a model that fails at run time (not only at load) fails here, before it serves. Errors become
    /// <see cref="ModelPackageException"/> naming the package.</summary>
    public void WarmUp()
    {
        using var runner = new OnnxRunner(this);
        for (var i = 0; i < 2; i++)
        {
            runner.Run();
        }
    }

    /// <summary>Floats in one image's class activation map (0 without one).</summary>
    public long CamLength => CamShape?.Aggregate(1L, (a, b) => a * b) ?? 0;

    /// <summary>Floats in one image's output.</summary>
    public long OutputLength => OutputShape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Floats in one image's input.</summary>
    public long InputLength => InputShape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Disposes the session.</summary>
    public void Dispose() => Session.Dispose();
}

/// <summary>Decides the execution provider once per process: CUDA when asked for (or auto) and usable, else CPU.</summary>
public sealed class ProviderChoice(ModelProvider requested, Action<string> logOnce)
{
    private readonly object _gate = new();
    private bool? _cudaWorks;

    /// <summary>Adds the chosen provider to <paramref name="sessionOptions"/>; returns <c>cuda</c> or <c>cpu</c>.</summary>
    public string Apply(SessionOptions sessionOptions)
    {
        if (requested == ModelProvider.Cpu)
        {
            return "cpu";
        }

        lock (_gate)
        {
            if (_cudaWorks == false)
            {
                return "cpu";
            }

            try
            {
                if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
                {
                    throw new InvalidOperationException("this ONNX Runtime build has no CUDA execution provider (CPU package; build with -p:Gpu=true)");
                }

                sessionOptions.AppendExecutionProvider_CUDA(0);
                if (_cudaWorks is null)
                {
                    logOnce("ONNX Runtime: using the CUDA execution provider");
                }

                _cudaWorks = true;
                return "cuda";
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or InvalidOperationException or EntryPointNotFoundException or DllNotFoundException)
            {
                _cudaWorks = false;
                logOnce($"ONNX Runtime: CUDA not available ({ex.Message.Split('\n')[0]}); running on CPU");
                return "cpu";
            }
        }
    }
}
