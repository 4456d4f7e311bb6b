using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Export;

/// <summary>An exported model and how closely ONNX Runtime reproduces TorchSharp on it.</summary>
/// <param name="Onnx">The serialized ModelProto.</param>
/// <param name="MaxAbsDifference">Largest |ONNX Runtime − TorchSharp| over the parity inputs.</param>
/// <param name="OutputShape">Output shape for one sample (batch axis excluded).</param>
/// <param name="OpCounts">Nodes by op type.</param>
internal sealed record OnnxExport(byte[] Onnx, double MaxAbsDifference, long[] OutputShape, IReadOnlyDictionary<string, int> OpCounts)
{
    /// <summary>Shape of the class activation map output for one sample ([1, h, w]), or null without one.</summary>
    public long[]? CamShape { get; init; }
}

/// <summary>
/// Writes a TorchSharp module as an ONNX model (opset 17, float32, batch axis named <c>batch</c> so any batch size
/// runs), then loads it in ONNX Runtime and compares its output with TorchSharp's on the same random inputs. An export
/// that differs by more than <see cref="Tolerance"/> is refused.
/// </summary>
internal static class OnnxExporter
{
    /// <summary>The opset the graph is written for (≥ 13: Clip takes its bounds as inputs).</summary>
    public const long Opset = 17;

    /// <summary>Largest accepted |ONNX − TorchSharp| difference.</summary>
    public const double Tolerance = 1e-4;

    /// <summary>Exports <paramref name="module"/> for input [batch, channels, height, width] and checks parity.</summary>
    /// <param name="module">The model; it is put in eval mode (and left there).</param>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height.</param>
    /// <param name="width">Input width.</param>
    /// <param name="inputName">Name of the graph input.</param>
    /// <param name="outputName">Name of the graph output.</param>
    /// <param name="parityBatch">Batch size of the parity check (more than 1, to exercise the dynamic batch axis).</param>
    /// <param name="seed">Seed of the parity inputs.</param>
    /// <param name="camName">
    /// When set, the module must be an <see cref="IPooledClassifier"/>: the graph gets a second output of this name, the
    /// class activation map [batch, 1, h, w] (checked for parity like the first).
    /// </param>
    public static OnnxExport Export(nn.Module<Tensor, Tensor> module, long channels, long height, long width,
        string inputName = "input", string outputName = "logit", int parityBatch = 3, int seed = 1234, string? camName = null)
    {
        var exportable = Architectures.Exportable(module);
        module.eval();
        var inputShape = new[] { parityBatch, channels, height, width };
        var parityInput = ParityInput(inputShape, seed);
        var graph = new OnnxGraph();
        var outputs = new List<(string Name, string Node, long[] Shape, float[] Torch)>();
        if (camName is null)
        {
            var torchOutput = TorchOutput(module.forward, module, parityInput, inputShape, out var shape);
            outputs.Add((outputName, exportable.ExportOnnx(graph, inputName), shape, torchOutput));
        }
        else
        {
            var pooled = module as IPooledClassifier ?? throw new OnnxExportException($"{module.GetType().Name} is not a pooled classifier; it has no class activation map");
            var (logit, cam) = PooledClassifier.ExportBoth(pooled, graph, inputName);
            var torchLogit = TorchOutput(module.forward, module, parityInput, inputShape, out var logitShape);
            var torchCam = TorchOutput(x => PooledClassifier.Cam(pooled, x), module, parityInput, inputShape, out var camShape);
            outputs.Add((outputName, logit, logitShape, torchLogit));
            outputs.Add((camName, cam!, camShape, torchCam));
        }

        foreach (var output in outputs)
        {
            graph.NodeWithOutputs("Identity", [output.Node], [output.Name]);
        }

        var bytes = Serialize(graph, inputName, [channels, height, width], outputs.Select(o => (o.Name, o.Shape)).ToList());
        var onnxOutputs = RunOnnxAll(bytes, inputName, parityInput, inputShape);
        var maxDiff = 0.0;
        foreach (var ((name, _, _, torchOutput), onnxOutput) in outputs.Zip(onnxOutputs))
        {
            if (onnxOutput.Length != torchOutput.Length)
            {
                throw new OnnxExportException($"ONNX output '{name}' has {onnxOutput.Length} values, TorchSharp's has {torchOutput.Length}");
            }

            for (var i = 0; i < torchOutput.Length; i++)
            {
                var d = Math.Abs((double)onnxOutput[i] - torchOutput[i]);
                maxDiff = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(maxDiff, d);
            }
        }

        if (!(maxDiff <= Tolerance))
        {
            throw new OnnxExportException($"ONNX export does not match TorchSharp: max |difference| {maxDiff:E2} > {Tolerance:E0} over {outputs.Sum(o => o.Torch.Length)} outputs");
        }

        return new OnnxExport(bytes, maxDiff, outputs[0].Shape, new Dictionary<string, int>(graph.OpCounts)) { CamShape = camName is null ? null : outputs[1].Shape };
    }

    /// <summary>Runs an ONNX model on one float input and returns all its outputs, in graph order.</summary>
    public static IReadOnlyList<float[]> RunOnnxAll(byte[] onnx, string inputName, float[] input, long[] shape)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(onnx, options);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [value], session.OutputNames);
        return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToList();
    }

    /// <summary>Runs an ONNX model on one float input and returns its first output.</summary>
    public static float[] RunOnnx(byte[] onnx, string inputName, float[] input, long[] shape) => RunOnnxAll(onnx, inputName, input, shape)[0];

    private static float[] ParityInput(long[] shape, int seed)
    {
        // Roughly what the preprocessor produces (normalised pixels), and a few large values to stress the activations.
        var random = new Random(seed);
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (float)(((random.NextDouble() * 2) - 1) * (i % 97 == 0 ? 4 : 1.5));
        }

        return data;
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static float[] TorchOutput(Func<Tensor, Tensor> forward, nn.Module module, float[] input, long[] shape, out long[] outputShape)
    {
        using var noCollection = Training.NoCollection.Enter();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = module.parameters().FirstOrDefault()?.device ?? CPU;
        var x = tensor(input, shape).to(device);
        var y = forward(x).cpu().contiguous();
        outputShape = y.shape[1..];
        return y.data<float>().ToArray();
    }

    private static byte[] Serialize(OnnxGraph graph, string inputName, long[] inputShape, IReadOnlyList<(string Name, long[] Shape)> outputs) =>
        Serialize(graph, [new OnnxValue(inputName, [-1, .. inputShape])], outputs.Select(o => new OnnxValue(o.Name, [-1, .. o.Shape])).ToList());

    /// <summary>
    /// The ModelProto of <paramref name="graph"/> with float inputs and outputs of the given shapes (-1: the symbolic
    /// <c>batch</c> axis; an empty shape leaves the shape unstated, e.g. extra outputs added for calibration).
    /// </summary>
    internal static byte[] Serialize(OnnxGraph graph, IReadOnlyList<OnnxValue> inputs, IReadOnlyList<OnnxValue> outputs)
    {
        var model = new ProtoWriter()
            .Varint(OnnxProto.Model.IrVersion, OnnxProto.IrVersion)
            .String(OnnxProto.Model.ProducerName, "inspection-trainer")
            .String(OnnxProto.Model.ProducerVersion, typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0")
            .Message(OnnxProto.Model.OpsetImport, w => w.String(OnnxProto.OpsetId.Domain, "").Varint(OnnxProto.OpsetId.Version, Opset))
            .Message(OnnxProto.Model.Graph, w =>
            {
                graph.WriteBody(w);
                w.String(OnnxProto.Graph.Name, "inspection");
                foreach (var input in inputs)
                {
                    w.Message(OnnxProto.Graph.Input, v => ValueInfo(v, input));
                }

                foreach (var output in outputs)
                {
                    w.Message(OnnxProto.Graph.Output, v => ValueInfo(v, output));
                }
            });
        return model.ToArray();
    }

    /// <summary>A float tensor's name and shape.</summary>
    private static void ValueInfo(ProtoWriter w, OnnxValue value)
    {
        w.String(OnnxProto.ValueInfo.Name, value.Name);
        w.Message(OnnxProto.ValueInfo.Type, type => type.Message(OnnxProto.TypeProto.TensorType, tensorType =>
        {
            tensorType.Varint(OnnxProto.TypeProto.ElemType, OnnxProto.Tensor.TypeFloat);
            if (value.Shape.Length == 0)
            {
                return;
            }

            tensorType.Message(OnnxProto.TypeProto.Shape, shape =>
            {
                foreach (var size in value.Shape)
                {
                    shape.Message(OnnxProto.Shape.Dim, d => _ = size < 0 ? d.String(OnnxProto.Shape.DimParam, "batch") : d.Varint(OnnxProto.Shape.DimValue, size));
                }
            });
        }));
    }
}
