using Inspection.Config.Models;
using Inspection.Config.Options;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Inspection.Daemon.Inference;

/// <summary>One model package's ONNX Runtime session, checked against its manifest. Sessions are thread-safe; the
/// buffers each caller runs with are its own (<see cref="ModelBuffers"/>).</summary>
public sealed class OnnxModel : IDisposable
{
    private OnnxModel(ModelPackage package, InferenceSession session, string provider, long[] inputShape, long[] outputShape)
    {
        Package = package;
        Session = session;
        Provider = provider;
        InputShape = inputShape;
        OutputShape = outputShape;
        InputNames = [session.InputNames[0]];
        OutputNames = [session.OutputNames[0]];
    }

    public ModelPackage Package { get; }

    public ModelManifest Manifest => Package.Manifest;

    public InferenceSession Session { get; }

    /// <summary><c>cuda</c> or <c>cpu</c>.</summary>
    public string Provider { get; }

    public long[] InputShape { get; }

    public long[] OutputShape { get; }

    public string[] InputNames { get; }

    public string[] OutputNames { get; }

    /// <summary>Creates the session, refusing a package whose ONNX input does not have the manifest's shape.</summary>
    public static OnnxModel Load(ModelPackage package, ModelsOptions options, ProviderChoice providers)
    {
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.Threads > 0)
        {
            sessionOptions.IntraOpNumThreads = options.Threads;
            sessionOptions.InterOpNumThreads = 1;
        }

        var provider = providers.Apply(sessionOptions);
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

            var outputDims = session.OutputMetadata[session.OutputNames[0]].Dimensions;
            var outputShape = outputDims.Select((d, i) => (long)(d > 0 ? d : i switch { 0 => 1, 2 => spec.Height, 3 => spec.Width, _ => 1 })).ToArray();
            return new OnnxModel(package, session, provider, expected.Select(d => (long)d).ToArray(), outputShape);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public long OutputLength => OutputShape.Aggregate(1L, (a, b) => a * b);

    public void Dispose() => Session.Dispose();
}

/// <summary>Decides the execution provider once per process: CUDA when asked for (or auto) and usable, else CPU.</summary>
public sealed class ProviderChoice(ModelProvider requested, Action<string> logOnce)
{
    private readonly object _gate = new();
    private bool? _cudaWorks;

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
