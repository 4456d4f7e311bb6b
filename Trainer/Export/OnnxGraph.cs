using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Export;

/// <summary>One attribute of an ONNX node (int, float, ints or floats).</summary>
internal sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null, long[]? Ints = null, float[]? Floats = null)
{
    /// <summary>An integer attribute.</summary>
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);

    /// <summary>A float attribute.</summary>
    public static OnnxAttribute Of(string name, float value) => new(name, Float: value);

    /// <summary>An integer-list attribute.</summary>
    public static OnnxAttribute Of(string name, params long[] values) => new(name, Ints: values);

    /// <summary>Reads one AttributeProto of the kinds <see cref="Write"/> writes (int, float, ints, floats).</summary>
    internal static OnnxAttribute Read(ReadOnlyMemory<byte> bytes)
    {
        var name = "";
        long? i = null;
        float? f = null;
        List<long>? ints = null;
        List<float>? floats = null;
        foreach (var field in ProtoReader.Fields(bytes))
        {
            switch (field.Number)
            {
                case OnnxProto.Attribute.Name: name = field.Text; break;
                case OnnxProto.Attribute.I: i = (long)field.Varint; break;
                case OnnxProto.Attribute.F: f = field.Float; break;
                case OnnxProto.Attribute.Ints when field.WireType == 0: (ints ??= []).Add((long)field.Varint); break;
                case OnnxProto.Attribute.Ints: (ints ??= []).AddRange(ProtoReader.PackedVarints(field.Bytes)); break;
                case OnnxProto.Attribute.Floats when field.WireType == 5: (floats ??= []).Add(field.Float); break;
                case OnnxProto.Attribute.Floats: (floats ??= []).AddRange(MemoryMarshal.Cast<byte, float>(field.Bytes.Span).ToArray()); break;
            }
        }

        return new OnnxAttribute(name, i, f, ints?.ToArray(), floats?.ToArray());
    }

    internal void Write(ProtoWriter w)
    {
        w.String(OnnxProto.Attribute.Name, Name);
        if (Int is { } i)
        {
            w.Varint(OnnxProto.Attribute.I, i).Varint(OnnxProto.Attribute.Type, OnnxProto.Attribute.TypeInt);
        }
        else if (Float is { } f)
        {
            w.Float(OnnxProto.Attribute.F, f).Varint(OnnxProto.Attribute.Type, OnnxProto.Attribute.TypeFloat);
        }
        else if (Ints is { } ints)
        {
            foreach (var v in ints)
            {
                w.Varint(OnnxProto.Attribute.Ints, v);
            }

            w.Varint(OnnxProto.Attribute.Type, OnnxProto.Attribute.TypeInts);
        }
        else if (Floats is { } floats)
        {
            foreach (var v in floats)
            {
                w.Float(OnnxProto.Attribute.Floats, v);
            }

            w.Varint(OnnxProto.Attribute.Type, OnnxProto.Attribute.TypeFloats);
        }
    }
}

/// <summary>
/// Builds an ONNX graph op by op. Each exportable module appends its own ops (<see cref="IOnnxExportable"/>) and passes
/// on the name of its output, so a new layer type needs one method here (or a call to <see cref="Node"/>) and nothing
/// else. Batch norm is folded into the convolution before it, so the exported graph has no BatchNormalization nodes.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly List<Action<ProtoWriter>> _nodes = [];
    private readonly List<Action<ProtoWriter>> _initializers = [];
    private readonly HashSet<string> _names = [];
    private int _counter;

    /// <summary>Number of nodes so far, by op type (for logs and tests).</summary>
    public Dictionary<string, int> OpCounts { get; } = [];

    /// <summary>Appends a node and returns the name of its (single) output. The general way to add an op.</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, params OnnxAttribute[] attributes)
    {
        var output = Fresh(opType.ToLowerInvariant());
        NodeWithOutputs(opType, inputs, [output], attributes);
        return output;
    }

    /// <summary>Appends a node with named outputs.</summary>
    public void NodeWithOutputs(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params OnnxAttribute[] attributes)
    {
        var name = $"{opType}_{_nodes.Count}";
        _nodes.Add(w =>
        {
            foreach (var i in inputs)
            {
                w.String(OnnxProto.Node.Input, i);
            }

            foreach (var o in outputs)
            {
                w.String(OnnxProto.Node.Output, o);
            }

            w.String(OnnxProto.Node.Name, name).String(OnnxProto.Node.OpType, opType);
            foreach (var a in attributes)
            {
                w.Message(OnnxProto.Node.Attribute, a.Write);
            }
        });
        OpCounts[opType] = OpCounts.GetValueOrDefault(opType) + 1;
        _names.UnionWith(outputs);
    }

    /// <summary>Keeps <paramref name="names"/> out of the names this graph invents (a graph rebuilt from another keeps its names).</summary>
    public void Reserve(IEnumerable<string> names) => _names.UnionWith(names);

    /// <summary>Adds a float constant (weights, biases, clip bounds) and returns its name.</summary>
    public string Initializer(string hint, float[] data, params long[] dims) =>
        Initializer(hint, OnnxProto.Tensor.TypeFloat, MemoryMarshal.AsBytes(data.AsSpan()), dims);

    /// <summary>Adds a constant of ONNX element type <paramref name="dataType"/> from its little-endian bytes; no dims is a scalar.</summary>
    public string Initializer(string hint, int dataType, ReadOnlySpan<byte> data, params long[] dims)
    {
        var name = Fresh(hint);
        var bytes = data.ToArray();
        _initializers.Add(w =>
        {
            foreach (var d in dims)
            {
                w.Varint(OnnxProto.Tensor.Dims, d);
            }

            w.Varint(OnnxProto.Tensor.DataType, dataType)
             .String(OnnxProto.Tensor.Name, name)
             .Bytes(OnnxProto.Tensor.RawData, bytes);
        });
        return name;
    }

    /// <summary>Convolution (any kernel, stride, padding, dilation, groups) with an optional batch norm folded in.</summary>
    public string Conv(Conv2d conv, BatchNorm2d? bn, string input)
    {
        var weight = Floats(conv.weight!);
        var shape = conv.weight!.shape; // [out, in/groups, kh, kw]
        var bias = conv.bias is null ? new float[shape[0]] : Floats(conv.bias);
        if (bn is not null)
        {
            FoldBatchNorm(bn, weight, bias, outChannels: shape[0], perChannelBlock: weight.Length / shape[0], outerCount: 1);
        }

        var w = Initializer("conv_w", weight, shape);
        var b = Initializer("conv_b", bias, shape[0]);
        return Node("Conv", [input, w, b],
            OnnxAttribute.Of("kernel_shape", shape[2], shape[3]),
            OnnxAttribute.Of("strides", conv.stride),
            OnnxAttribute.Of("pads", Pads(conv.padding!)),
            OnnxAttribute.Of("dilations", conv.dilation),
            OnnxAttribute.Of("group", conv.groups));
    }

    /// <summary>Transposed convolution (learned upsampling) with an optional batch norm folded in.</summary>
    public string ConvTranspose(ConvTranspose2d conv, BatchNorm2d? bn, string input)
    {
        var weight = Floats(conv.weight!);
        var shape = conv.weight!.shape; // [in, out/groups, kh, kw]
        var outChannels = shape[1] * conv.groups;
        var bias = conv.bias is null ? new float[outChannels] : Floats(conv.bias);
        if (bn is not null)
        {
            if (conv.groups != 1)
            {
                throw new OnnxExportException("folding batch norm into a grouped ConvTranspose is not supported");
            }

            // Output channel o's weights are the kh*kw block at [i, o] for every input channel i.
            FoldBatchNorm(bn, weight, bias, outChannels: shape[1], perChannelBlock: shape[2] * shape[3], outerCount: shape[0]);
        }

        var w = Initializer("deconv_w", weight, shape);
        var b = Initializer("deconv_b", bias, outChannels);
        return Node("ConvTranspose", [input, w, b],
            OnnxAttribute.Of("kernel_shape", shape[2], shape[3]),
            OnnxAttribute.Of("strides", conv.stride),
            OnnxAttribute.Of("pads", Pads(conv.padding!)),
            OnnxAttribute.Of("output_padding", conv.output_padding),
            OnnxAttribute.Of("dilations", conv.dilation),
            OnnxAttribute.Of("group", conv.groups));
    }

    /// <summary>Fully connected layer as Gemm (y = x·Wᵀ + b); input must be 2-D.</summary>
    public string Linear(Linear linear, string input)
    {
        var shape = linear.weight!.shape; // [out, in]
        var w = Initializer("fc_w", Floats(linear.weight), shape);
        var b = Initializer("fc_b", linear.bias is null ? new float[shape[0]] : Floats(linear.bias), shape[0]);
        return Node("Gemm", [input, w, b], OnnxAttribute.Of("transB", 1L));
    }

    /// <summary>A Linear layer applied at every position of an N×C×h×w map, as a 1×1 Conv with its weights and bias.</summary>
    public string LinearAsConv(Linear linear, string input)
    {
        var shape = linear.weight!.shape; // [out, in]
        var w = Initializer("fc_conv_w", Floats(linear.weight), shape[0], shape[1], 1, 1);
        var b = Initializer("fc_conv_b", linear.bias is null ? new float[shape[0]] : Floats(linear.bias), shape[0]);
        return Node("Conv", [input, w, b], OnnxAttribute.Of("kernel_shape", 1L, 1L));
    }

    /// <summary>The activation after a convolution.</summary>
    public string Activation(Activation activation, string input) => activation switch
    {
        Models.Activation.None => input,
        Models.Activation.Relu => Node("Relu", [input]),
        Models.Activation.Relu6 => Node("Clip", [input, Initializer("clip_min", [0f]), Initializer("clip_max", [6f])]),
        _ => throw new OnnxExportException($"activation {activation} has no ONNX mapping"),
    };

    /// <summary>Element-wise sum (residual connections).</summary>
    public string Add(string a, string b) => Node("Add", [a, b]);

    /// <summary>Concatenation along <paramref name="axis"/> (skip connections).</summary>
    public string Concat(long axis, params string[] inputs) => Node("Concat", inputs, OnnxAttribute.Of("axis", axis));

    /// <summary>Max pooling.</summary>
    public string MaxPool(string input, long kernel, long stride, long padding) => Node("MaxPool", [input],
        OnnxAttribute.Of("kernel_shape", kernel, kernel),
        OnnxAttribute.Of("strides", stride, stride),
        OnnxAttribute.Of("pads", padding, padding, padding, padding));

    /// <summary>Mean over height and width, keeping them as 1×1.</summary>
    public string GlobalAveragePool(string input) => Node("GlobalAveragePool", [input]);

    /// <summary>Flattens everything after the batch axis.</summary>
    public string Flatten(string input) => Node("Flatten", [input], OnnxAttribute.Of("axis", 1L));

    /// <summary>Logistic sigmoid.</summary>
    public string Sigmoid(string input) => Node("Sigmoid", [input]);

    internal void WriteBody(ProtoWriter w)
    {
        foreach (var node in _nodes)
        {
            w.Message(OnnxProto.Graph.Node, node);
        }

        foreach (var init in _initializers)
        {
            w.Message(OnnxProto.Graph.Initializer, init);
        }
    }

    private string Fresh(string hint)
    {
        string name;
        do
        {
            name = $"{hint}_{_counter++}";
        }
        while (!_names.Add(name));
        return name;
    }

    private static long[] Pads(long[] padding) => padding.Length switch
    {
        1 => [padding[0], padding[0], padding[0], padding[0]],
        2 => [padding[0], padding[1], padding[0], padding[1]],
        _ => throw new OnnxExportException($"unsupported padding [{string.Join(",", padding)}]"),
    };

    /// <summary>
    /// y = γ·(conv(x) + b − μ)/√(σ²+ε) + β, so the weights of output channel o scale by s = γ/√(σ²+ε) and the bias
    /// becomes (b − μ)·s + β. Computed in double so the folded graph stays within float rounding of the original.
    /// </summary>
    private static void FoldBatchNorm(BatchNorm2d bn, float[] weight, float[] bias, long outChannels, long perChannelBlock, long outerCount)
    {
        var gamma = bn.weight is null ? null : Floats(bn.weight);
        var beta = bn.bias is null ? null : Floats(bn.bias);
        var mean = Floats(bn.running_mean!);
        var variance = Floats(bn.running_var!);
        var eps = bn.eps;
        for (var o = 0L; o < outChannels; o++)
        {
            var scale = (gamma?[o] ?? 1.0) / Math.Sqrt(variance[o] + eps);
            bias[o] = (float)(((bias[o] - mean[o]) * scale) + (beta?[o] ?? 0.0));
            for (var outer = 0L; outer < outerCount; outer++)
            {
                var start = ((outer * outChannels) + o) * perChannelBlock;
                for (var k = 0L; k < perChannelBlock; k++)
                {
                    weight[start + k] = (float)(weight[start + k] * scale);
                }
            }
        }
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static float[] Floats(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().contiguous().to_type(ScalarType.Float32).data<float>().ToArray();
    }
}

/// <summary>A model or layer the exporter cannot write, or an export that does not match TorchSharp's output.</summary>
internal sealed class OnnxExportException(string message) : Exception(message);
