using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Trainer.Export;

/// <summary>The float range one activation tensor took over the calibration images.</summary>
internal readonly record struct ActivationRange(float Min, float Max)
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
/// <item>Weights of Conv: int8, symmetric (zero point 0), one scale per output channel. A k×k, stride-k ConvTranspose
/// (the U-Net's upsampling) is written as a 1×1 Conv and DepthToSpace, which ONNX Runtime runs on integers too.</item>
/// <item>Biases: int32 at scale input-scale × weight-scale, as ONNX Runtime's fused kernels need them.</item>
/// <item>Activations: uint8, one scale and zero point per tensor, from the range the float model's tensor took on the
/// calibration images (<see cref="Calibrate"/>: min-max).</item>
/// <item>A ReLU or Clip(0, 6) right after a Conv, ConvTranspose or Add is dropped: the uint8 Q after the op clamps at the
/// same place (zero point 0, range ≤ 6), which is what lets ONNX Runtime fuse op + activation.</item>
/// <item>Ops that produce a graph output (the segmenter's 1×1 head, the classifier's Gemm and class activation map)
/// stay float, with float weights: their output is the score the thresholds act on.</item>
/// </list>
/// </summary>
internal static class QdqQuantizer
{
    /// <summary>How activation ranges are calibrated, as recorded in the manifest.</summary>
    public const string CalibrationMethod = "min-max";

    // Ops whose inputs and output are quantized; ONNX Runtime fuses each with its Q/DQ neighbours. (ConvTranspose only
    // in the k×k stride-k form, rewritten as Conv + DepthToSpace: ONNX Runtime has no integer ConvTranspose kernel.)
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
            names[t] = QuantizeDequantize(graph, producedAs, q);
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
            if (names.ContainsKey(node.Outputs[0]))
            {
                continue; // an activation already folded into a rewritten ConvTranspose
            }

            if (plan.Folded.TryGetValue(node.Outputs[0], out var host))
            {
                // The activation is the Q after its host: the host's raw output, quantized with the activation's range.
                Qdq(node.Outputs[0], host);
                continue;
            }

            if (plan.Fused.Contains(node) && node.OpType == "ConvTranspose")
            {
                // Written as a 1x1 Conv to k·k·C channels (fused like any Conv) and DepthToSpace, which only moves
                // values, so the Q/DQ on both sides share the output's scale. Its activation, if any, folds in here.
                var output = plan.ActivationOf.GetValueOrDefault(node.Outputs[0], node.Outputs[0]);
                var q = ranges[output].Uint8();
                var (weights, bias, dims, k) = PixelShuffleWeights(model, node);
                var conv = graph.Node("Conv", QuantizedConvInputs(graph, weights, dims, bias, names[node.Inputs[0]], scales[node.Inputs[0]].Scale), OnnxAttribute.Of("kernel_shape", 1L, 1L));
                var shuffled = graph.Node("DepthToSpace", [QuantizeDequantize(graph, conv, q)], OnnxAttribute.Of("blocksize", k));
                scales[output] = q;
                names[output] = QuantizeDequantize(graph, shuffled, q);
                continue;
            }

            var inputs = plan.Fused.Contains(node) && node.OpType == "Conv"
                ? QuantizedConvInputs(graph, model.Initializers[node.Inputs[1]].Values, model.Initializers[node.Inputs[1]].Dims,
                    node.Inputs.Count > 2 ? model.Initializers[node.Inputs[2]].Values : null, names[node.Inputs[0]], scales[node.Inputs[0]].Scale)
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

    // Activation input as quantized; weight [out, in/groups, kh, kw] int8 per output channel; bias int32 at input scale × weight scale.
    private static List<string> QuantizedConvInputs(OnnxGraph graph, float[] weights, long[] dims, float[]? bias, string input, float inputScale)
    {
        var channels = dims[0];
        var block = weights.Length / channels;
        var weightScales = new float[channels];
        for (var c = 0L; c < channels; c++)
        {
            var maxAbs = 0f;
            for (var k = 0L; k < block; k++)
            {
                maxAbs = Math.Max(maxAbs, Math.Abs(weights[(c * block) + k]));
            }

            weightScales[c] = maxAbs > 0 ? maxAbs / 127f : 1f;
        }

        var quantized = new sbyte[weights.Length];
        for (var i = 0; i < quantized.Length; i++)
        {
            quantized[i] = (sbyte)Math.Clamp(Math.Round(weights[i] / weightScales[i / block]), -127, 127);
        }

        var w = graph.Node("DequantizeLinear", [
            graph.Initializer("w_int8", OnnxProto.Tensor.TypeInt8, MemoryMarshal.AsBytes(quantized.AsSpan()), dims),
            graph.Initializer("w_scale", weightScales, channels),
            graph.Initializer("w_zero", OnnxProto.Tensor.TypeInt8, new byte[channels], channels)], OnnxAttribute.Of("axis", 0L));
        var inputs = new List<string> { input, w };
        if (bias is not null)
        {
            var biasScales = weightScales.Select(s => s * inputScale).ToArray();
            var biasInt = bias.Select((b, c) => (int)Math.Clamp(Math.Round(b / biasScales[c]), int.MinValue, int.MaxValue)).ToArray();
            inputs.Add(graph.Node("DequantizeLinear", [
                graph.Initializer("b_int32", OnnxProto.Tensor.TypeInt32, MemoryMarshal.AsBytes(biasInt.AsSpan()), channels),
                graph.Initializer("b_scale", biasScales, channels)], OnnxAttribute.Of("axis", 0L)));
        }

        return inputs;
    }

    // A k×k, stride-k ConvTranspose (no padding, one group) as the weights of a 1×1 Conv to k·k·C channels whose
    // DepthToSpace (DCR order) is the same output: channel (i·k + j)·C + o holds output channel o at offset (i, j).
    private static (float[] Weights, float[] Bias, long[] Dims, long K) PixelShuffleWeights(OnnxModelReader model, OnnxNode node)
    {
        var w = model.Initializers[node.Inputs[1]];
        var (inChannels, outChannels, k) = (w.Dims[0], w.Dims[1], w.Dims[2]);
        var weights = new float[w.Values.Length];
        for (var ci = 0L; ci < inChannels; ci++)
        {
            for (var co = 0L; co < outChannels; co++)
            {
                for (var i = 0L; i < k * k; i++)
                {
                    weights[((((i * outChannels) + co) * inChannels) + ci)] = w.Values[(((ci * outChannels) + co) * k * k) + i];
                }
            }
        }

        var bias = node.Inputs.Count > 2 ? model.Initializers[node.Inputs[2]].Values : new float[outChannels];
        return (weights, Enumerable.Range(0, (int)(k * k)).SelectMany(_ => bias).ToArray(), [k * k * outChannels, inChannels, 1, 1], k);
    }

    // Q then DQ of a tensor at a uint8 scale and zero point; returns the DequantizeLinear output.
    private static string QuantizeDequantize(OnnxGraph graph, string tensor, (float Scale, byte ZeroPoint) q)
    {
        var scale = graph.Initializer("scale", [q.Scale]);
        var zero = graph.Initializer("zero", OnnxProto.Tensor.TypeUint8, [q.ZeroPoint]);
        return graph.Node("DequantizeLinear", [graph.Node("QuantizeLinear", [tensor, scale, zero]), scale, zero]);
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
                if (IsFoldableActivation(node, model) && producers.TryGetValue(node.Inputs[0], out var host) && ActivationHosts.Contains(host.OpType) && IsQuantizable(host, model)
                    && consumers[node.Inputs[0]].Count() == 1 && !IsModelOutput(node.Inputs[0]) && !IsModelOutput(node.Outputs[0]))
                {
                    Folded[node.Outputs[0]] = host.Outputs[0];
                }
            }

            foreach (var (activation, hostOutput) in Folded)
            {
                ActivationOf[hostOutput] = activation;
            }

            foreach (var node in model.Nodes.Where(n => IsQuantizable(n, model)))
            {
                var output = ActivationOf.GetValueOrDefault(node.Outputs[0], node.Outputs[0]);
                if (IsModelOutput(output))
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

        /// <summary>Output of the op an activation folds into → the activation's output.</summary>
        public Dictionary<string, string> ActivationOf { get; } = new(StringComparer.Ordinal);

        /// <summary>Nodes that run on integers.</summary>
        public HashSet<OnnxNode> Fused { get; } = [];

        /// <summary>Tensors that get a Q/DQ pair.</summary>
        public SortedSet<string> Quantized { get; } = new(StringComparer.Ordinal);

        private static bool IsQuantizable(OnnxNode node, OnnxModelReader model) => node.OpType switch
        {
            "Conv" => model.Initializers.ContainsKey(node.Inputs[1]),
            "ConvTranspose" => IsPixelShuffle(node, model),
            _ => QuantizedOps.Contains(node.OpType),
        };

        // ConvTranspose with kernel = stride = k, no padding, one group: a 1×1 Conv plus DepthToSpace (U-Net upsampling).
        private static bool IsPixelShuffle(OnnxNode node, OnnxModelReader model)
        {
            long[]? Ints(string name) => node.Attributes.FirstOrDefault(a => a.Name == name)?.Ints;
            return model.Initializers.TryGetValue(node.Inputs[1], out var w) && w.Dims is [_, _, var kh, var kw] && kh == kw
                && Ints("strides") is [var sh, var sw] && sh == kh && sw == kw
                && (Ints("pads") ?? [0]).All(p => p == 0) && (Ints("output_padding") ?? [0]).All(p => p == 0)
                && (Ints("dilations") ?? [1]).All(d => d == 1) && (node.Attributes.FirstOrDefault(a => a.Name == "group")?.Int ?? 1) == 1;
        }

        private static bool IsFoldableActivation(OnnxNode node, OnnxModelReader model) => node.OpType switch
        {
            "Relu" => true,
            "Clip" => node.Inputs.Count == 3 && model.Initializers.TryGetValue(node.Inputs[1], out var min) && min.Values is [0f]
                && model.Initializers.TryGetValue(node.Inputs[2], out var max) && max.Values is [6f],
            _ => false,
        };
    }
}
