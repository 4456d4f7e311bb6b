using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Trainer.Export;

/// <summary>The float range one activation tensor took over the calibration images.</summary>
public readonly record struct ActivationRange(float Min, float Max)
{
    /// <summary>uint8 scale and zero point covering the range (widened to include 0, so that 0 is exact: zero padding, ReLU).</summary>
    public (float Scale, byte ZeroPoint) Uint8()
    {
        var min = Math.Min(0f, Min);
        var max = Math.Max(0f, Max);
        var scale = max > min ? (max - min) / 255f : 1f;
        return (scale, (byte)Math.Clamp(Math.Round(-min / scale), 0, 255));
    }

    /// <summary>The union of two ranges.</summary>
    public ActivationRange With(float min, float max) => new(Math.Min(Min, min), Math.Max(Max, max));
}

/// <summary>
/// Turns a float ONNX graph written by <see cref="OnnxExporter"/> into a QDQ graph (QuantizeLinear/DequantizeLinear
/// pairs, opset 17) that ONNX Runtime's CPU graph optimizer fuses into integer kernels (QLinearConv, QLinearAdd,
/// QLinearConcat, MaxPool on uint8): U8S8, the fastest form on x86-64 (VPMADDUBSW / VNNI's VPDPBUSD take unsigned
/// activations and signed weights).
/// <list type="bullet">
/// <item>Weights of Conv and ConvTranspose: int8, symmetric (zero point 0), one scale per output channel.</item>
/// <item>Biases: int32 at scale input-scale × weight-scale, as ONNX Runtime's fused kernels need them.</item>
/// <item>Activations: uint8, one scale and zero point per tensor, from the range the float model's tensor took on the
/// calibration images (<see cref="Calibrate"/>: min-max).</item>
/// <item>A ReLU or Clip(0, 6) right after a Conv, ConvTranspose or Add is dropped: the uint8 Q after the op clamps at the
/// same place (zero point 0, range ≤ 6), which is what lets ONNX Runtime fuse op + activation.</item>
/// <item>Ops that produce a graph output (the segmenter's 1×1 head, the classifier's Gemm and class activation map)
/// stay float, with float weights: their output is the score the thresholds act on.</item>
/// </list>
/// </summary>
public static class QdqQuantizer
{
    /// <summary>How activation ranges are calibrated, as recorded in the manifest.</summary>
    public const string CalibrationMethod = "min-max";

    // Ops whose inputs and output are quantized; ONNX Runtime fuses each with its Q/DQ neighbours.
    private static readonly HashSet<string> QuantizedOps = ["Conv", "ConvTranspose", "Add", "Concat", "MaxPool"];

    // Ops a following ReLU/Clip(0, x) folds into.
    private static readonly HashSet<string> ActivationHosts = ["Conv", "ConvTranspose", "Add"];

    /// <summary>The activation tensors a QDQ version of <paramref name="model"/> quantizes (the ones to calibrate).</summary>
    public static IReadOnlyList<string> TensorsToCalibrate(OnnxModelReader model) => new Plan(model).Quantized.ToList();

    /// <summary>
    /// Runs the float model on <paramref name="inputs"/> (preprocessed images, one at a time) and returns the min-max
    /// range of every tensor the QDQ graph quantizes.
    /// </summary>
    public static IReadOnlyDictionary<string, ActivationRange> Calibrate(byte[] floatModel, IEnumerable<float[]> inputs)
    {
        var model = OnnxModelReader.Read(floatModel);
        var input = model.Inputs.Single();
        var calibrated = TensorsToCalibrate(model);
        var tensors = calibrated.Where(t => t != input.Name).ToList(); // the input's range is the images' own

        // The same graph with every tensor to calibrate as an extra output.
        var graph = new OnnxGraph();
        graph.Reserve(Names(model));
        var names = new Dictionary<string, string>(StringComparer.Ordinal) { [input.Name] = input.Name };
        foreach (var node in model.Nodes)
        {
            graph.NodeWithOutputs(node.OpType, node.Inputs.Select(i => Float(graph, model, names, i)).ToList(), node.Outputs, [.. node.Attributes]);
            foreach (var output in node.Outputs)
            {
                names[output] = output;
            }
        }

        var outputs = model.Outputs.Concat(tensors.Select(t => new OnnxValue(t, []))).ToList();
        var bytes = OnnxExporter.Serialize(graph, model.Inputs, outputs);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(bytes, options);
        var shape = input.Shape.Select(d => d < 0 ? 1 : d).ToArray();
        var ranges = new Dictionary<string, ActivationRange>(StringComparer.Ordinal);
        var count = 0;
        foreach (var image in inputs)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(image, shape);
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, [input.Name], [value], tensors);
            if (calibrated.Contains(input.Name))
            {
                var (min, max) = MinMax(image);
                ranges[input.Name] = ranges.TryGetValue(input.Name, out var r) ? r.With(min, max) : new ActivationRange(min, max);
            }

            for (var i = 0; i < tensors.Count; i++)
            {
                var data = results[i].GetTensorDataAsSpan<float>();
                var (min, max) = MinMax(data);
                ranges[tensors[i]] = ranges.TryGetValue(tensors[i], out var r) ? r.With(min, max) : new ActivationRange(min, max);
            }

            count++;
        }

        if (count == 0)
        {
            throw new ArgumentException("calibration needs at least one image");
        }

        return ranges;
    }

    /// <summary>The QDQ version of a float model, given every quantized tensor's range (from <see cref="Calibrate"/>).</summary>
    public static byte[] Quantize(byte[] floatModel, IReadOnlyDictionary<string, ActivationRange> ranges)
    {
        var model = OnnxModelReader.Read(floatModel);
        var plan = new Plan(model);
        var missing = plan.Quantized.Where(t => !ranges.ContainsKey(t)).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException($"no calibrated range for {missing.Count} tensors (first: {missing[0]})");
        }

        var graph = new OnnxGraph();
        graph.Reserve(Names(model));
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var scales = new Dictionary<string, (float Scale, byte ZeroPoint)>(StringComparer.Ordinal);

        // Quantizes tensor t (Q then DQ); its consumers read the DequantizeLinear output. MaxPool keeps its input's
        // scale so ONNX Runtime can drop the pair around it and pool on uint8.
        void Qdq(string t, string producedAs, string? sameScaleAs = null)
        {
            var q = sameScaleAs is not null ? scales[sameScaleAs] : ranges[t].Uint8();
            scales[t] = q;
            var scale = graph.Initializer("scale", [q.Scale]);
            var zero = graph.Initializer("zero", OnnxProto.Tensor.TypeUint8, [q.ZeroPoint]);
            var quantized = graph.Node("QuantizeLinear", [producedAs, scale, zero]);
            names[t] = graph.Node("DequantizeLinear", [quantized, scale, zero]);
        }

        foreach (var input in model.Inputs)
        {
            names[input.Name] = input.Name;
            if (plan.Quantized.Contains(input.Name))
            {
                Qdq(input.Name, input.Name);
            }
        }

        foreach (var node in model.Nodes)
        {
            if (plan.Folded.TryGetValue(node.Outputs[0], out var host))
            {
                // The activation is the Q after its host: the host's raw output, quantized with the activation's range.
                Qdq(node.Outputs[0], host);
                continue;
            }

            var inputs = plan.Fused.Contains(node) && node.OpType is "Conv" or "ConvTranspose"
                ? QuantizedConvInputs(graph, model, node, names, scales[node.Inputs[0]].Scale)
                : node.Inputs.Select(i => Float(graph, model, names, i)).ToList();
            graph.NodeWithOutputs(node.OpType, inputs, node.Outputs, [.. node.Attributes]);
            foreach (var output in node.Outputs)
            {
                names[output] = output;
                if (plan.Quantized.Contains(output))
                {
                    Qdq(output, output, node.OpType == "MaxPool" ? node.Inputs[0] : null);
                }
            }
        }

        return OnnxExporter.Serialize(graph, model.Inputs, model.Outputs);
    }

    // Activation input as quantized; weight int8 per output channel; bias int32 at input scale × weight scale.
    private static List<string> QuantizedConvInputs(OnnxGraph graph, OnnxModelReader model, OnnxNode node, Dictionary<string, string> names, float inputScale)
    {
        var weight = model.Initializers[node.Inputs[1]];
        var transposed = node.OpType == "ConvTranspose"; // weight [in, out/groups, kh, kw]: output channels on axis 1
        if (transposed && node.Attributes.FirstOrDefault(a => a.Name == "group")?.Int is > 1)
        {
            throw new OnnxExportException($"{node.OpType} with groups > 1 cannot be quantized per channel");
        }

        var axis = transposed ? 1 : 0;
        var channels = weight.Dims[axis];
        var block = weight.Dims.Skip(axis + 1).Aggregate(1L, (a, b) => a * b);
        var outer = weight.Values.Length / (channels * block);
        var maxAbs = new float[channels];
        for (var o = 0L; o < outer; o++)
        {
            for (var c = 0L; c < channels; c++)
            {
                for (var k = 0L; k < block; k++)
                {
                    maxAbs[c] = Math.Max(maxAbs[c], Math.Abs(weight.Values[(((o * channels) + c) * block) + k]));
                }
            }
        }

        var weightScales = maxAbs.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var quantized = new sbyte[weight.Values.Length];
        for (var i = 0; i < quantized.Length; i++)
        {
            var c = i / block % channels;
            quantized[i] = (sbyte)Math.Clamp(Math.Round(weight.Values[i] / weightScales[c]), -127, 127);
        }

        var axisAttribute = OnnxAttribute.Of("axis", (long)axis);
        var w = graph.Node("DequantizeLinear", [
            graph.Initializer("w_int8", OnnxProto.Tensor.TypeInt8, MemoryMarshal.AsBytes(quantized.AsSpan()), weight.Dims),
            graph.Initializer("w_scale", weightScales, channels),
            graph.Initializer("w_zero", OnnxProto.Tensor.TypeInt8, new byte[channels], channels)], axisAttribute);
        var inputs = new List<string> { names[node.Inputs[0]], w };
        if (node.Inputs.Count > 2)
        {
            var bias = model.Initializers[node.Inputs[2]].Values;
            var biasScales = weightScales.Select(s => s * inputScale).ToArray();
            var biasInt = bias.Select((b, c) => (int)Math.Clamp(Math.Round(b / biasScales[c]), int.MinValue, int.MaxValue)).ToArray();
            inputs.Add(graph.Node("DequantizeLinear", [
                graph.Initializer("b_int32", OnnxProto.Tensor.TypeInt32, MemoryMarshal.AsBytes(biasInt.AsSpan()), channels),
                graph.Initializer("b_scale", biasScales, channels)], OnnxAttribute.Of("axis", 0L)));
        }

        return inputs;
    }

    // A graph input or node output by its current name; an initializer copied into the new graph as float (once).
    private static string Float(OnnxGraph graph, OnnxModelReader model, Dictionary<string, string> names, string name)
    {
        if (names.TryGetValue(name, out var current))
        {
            return current;
        }

        var init = model.Initializers.GetValueOrDefault(name) ?? throw new OnnxExportException($"tensor '{name}' is used before it is produced");
        return names[name] = graph.Initializer(name, init.Values, init.Dims);
    }

    private static IEnumerable<string> Names(OnnxModelReader model) =>
        model.Nodes.SelectMany(n => n.Inputs.Concat(n.Outputs)).Concat(model.Inputs.Select(i => i.Name)).Concat(model.Outputs.Select(o => o.Name));

    private static (float Min, float Max) MinMax(ReadOnlySpan<float> data)
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var v in data)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        return (min, max);
    }

    /// <summary>Which nodes run on integers, which activations fold into them, and which tensors get a Q/DQ pair.</summary>
    private sealed class Plan
    {
        public Plan(OnnxModelReader model)
        {
            var consumers = model.Nodes.SelectMany(n => n.Inputs.Select(i => (Tensor: i, Node: n))).ToLookup(x => x.Tensor, x => x.Node);
            var producers = model.Nodes.SelectMany(n => n.Outputs.Select(o => (Tensor: o, Node: n))).ToDictionary(x => x.Tensor, x => x.Node);
            var graphOutputs = model.Outputs.Select(o => o.Name).ToHashSet();

            // A tensor the model outputs, directly or through Identity, stays float.
            bool IsModelOutput(string t) => graphOutputs.Contains(t) || consumers[t].Any(c => c.OpType == "Identity" && c.Outputs.Any(graphOutputs.Contains));

            foreach (var node in model.Nodes)
            {
                if (IsFoldableActivation(node, model) && producers.TryGetValue(node.Inputs[0], out var host) && ActivationHosts.Contains(host.OpType)
                    && consumers[node.Inputs[0]].Count() == 1 && !IsModelOutput(node.Inputs[0]) && !IsModelOutput(node.Outputs[0]))
                {
                    Folded[node.Outputs[0]] = host.Outputs[0];
                }
            }

            var hostOf = Folded.ToDictionary(kv => kv.Value, kv => kv.Key);
            foreach (var node in model.Nodes.Where(n => QuantizedOps.Contains(n.OpType)))
            {
                var output = hostOf.GetValueOrDefault(node.Outputs[0], node.Outputs[0]);
                if (IsModelOutput(output) || (node.OpType is "Conv" or "ConvTranspose" && !model.Initializers.ContainsKey(node.Inputs[1])))
                {
                    continue;
                }

                Fused.Add(node);
                Quantized.Add(output);
                foreach (var input in node.Inputs.Where(i => !model.Initializers.ContainsKey(i)))
                {
                    Quantized.Add(input);
                }
            }
        }

        /// <summary>Activation output → the output of the op it folds into.</summary>
        public Dictionary<string, string> Folded { get; } = new(StringComparer.Ordinal);

        /// <summary>Nodes that run on integers.</summary>
        public HashSet<OnnxNode> Fused { get; } = [];

        /// <summary>Tensors that get a Q/DQ pair.</summary>
        public SortedSet<string> Quantized { get; } = new(StringComparer.Ordinal);

        private static bool IsFoldableActivation(OnnxNode node, OnnxModelReader model) => node.OpType switch
        {
            "Relu" => true,
            "Clip" => node.Inputs.Count == 3 && model.Initializers.TryGetValue(node.Inputs[1], out var min) && min.Values is [0f]
                && model.Initializers.TryGetValue(node.Inputs[2], out var max) && max.Values is [6f],
            _ => false,
        };
    }
}
