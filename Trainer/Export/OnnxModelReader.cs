using System.Runtime.InteropServices;

namespace Inspection.Trainer.Export;

/// <summary>A node of an ONNX graph: op type, input and output names, and its attributes.</summary>
internal sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs)
{
    /// <summary>The node's attributes (int, float, ints and floats ones).</summary>
    public IReadOnlyList<OnnxAttribute> Attributes { get; init; } = [];
}

/// <summary>A graph input or output: its name and shape, a symbolic axis (the batch) as -1.</summary>
internal sealed record OnnxValue(string Name, long[] Shape);

/// <summary>A float initializer: name, shape and values.</summary>
internal sealed record OnnxInitializer(string Name, long[] Dims, float[] Values);

/// <summary>
/// The parts of an ONNX model the pretrained import and the INT8 quantizer read: the graph's nodes in order, its float
/// initializers (raw_data or float_data), inputs and outputs. Field numbers are those of <see cref="OnnxProto"/>.
/// </summary>
internal sealed class OnnxModelReader
{
    private OnnxModelReader(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxInitializer> initializers, IReadOnlyList<OnnxValue> inputs, IReadOnlyList<OnnxValue> outputs)
    {
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>Graph inputs that are not initializers.</summary>
    public IReadOnlyList<OnnxValue> Inputs { get; }

    /// <summary>Graph outputs, in order.</summary>
    public IReadOnlyList<OnnxValue> Outputs { get; }

    /// <summary>Nodes in graph order.</summary>
    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>Initializers by name.</summary>
    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }

    /// <summary>Parses a serialized ModelProto; malformed bytes are a <see cref="FormatException"/>.</summary>
    public static OnnxModelReader Read(ReadOnlyMemory<byte> model)
    {
        var graph = ProtoReader.Fields(model).LastOrDefault(f => f.Number == OnnxProto.Model.Graph && f.WireType == 2);
        if (graph.Number == 0)
        {
            throw new FormatException("no graph in the model");
        }

        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var inputs = new List<OnnxValue>();
        var outputs = new List<OnnxValue>();
        foreach (var field in ProtoReader.Fields(graph.Bytes))
        {
            switch (field.Number)
            {
                case OnnxProto.Graph.Node: nodes.Add(ReadNode(field.Bytes)); break;
                case OnnxProto.Graph.Input: inputs.Add(ReadValue(field.Bytes)); break;
                case OnnxProto.Graph.Output: outputs.Add(ReadValue(field.Bytes)); break;
                case OnnxProto.Graph.Initializer:
                    var init = ReadTensor(field.Bytes);
                    initializers[init.Name] = init;
                    break;
            }
        }

        return new OnnxModelReader(nodes, initializers, inputs.Where(i => !initializers.ContainsKey(i.Name)).ToList(), outputs);
    }

    private static OnnxValue ReadValue(ReadOnlyMemory<byte> bytes)
    {
        var name = "";
        var shape = new List<long>();
        foreach (var f in ProtoReader.Fields(bytes))
        {
            if (f.Number == OnnxProto.ValueInfo.Name)
            {
                name = f.Text;
            }
            else if (f.Number == OnnxProto.ValueInfo.Type)
            {
                var tensorType = ProtoReader.Fields(f.Bytes).Where(t => t.Number == OnnxProto.TypeProto.TensorType);
                var shapes = tensorType.SelectMany(t => ProtoReader.Fields(t.Bytes)).Where(t => t.Number == OnnxProto.TypeProto.Shape);
                foreach (var dim in shapes.SelectMany(s => ProtoReader.Fields(s.Bytes)).Where(d => d.Number == OnnxProto.Shape.Dim))
                {
                    var value = ProtoReader.Fields(dim.Bytes).FirstOrDefault(d => d.Number == OnnxProto.Shape.DimValue && d.WireType == 0);
                    shape.Add(value.Number == 0 ? -1 : (long)value.Varint);
                }
            }
        }

        return new OnnxValue(name, [.. shape]);
    }

    private static OnnxNode ReadNode(ReadOnlyMemory<byte> bytes)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new List<OnnxAttribute>();
        var op = "";
        foreach (var f in ProtoReader.Fields(bytes))
        {
            switch (f.Number)
            {
                case OnnxProto.Node.Input: inputs.Add(f.Text); break;
                case OnnxProto.Node.Output: outputs.Add(f.Text); break;
                case OnnxProto.Node.OpType: op = f.Text; break;
                case OnnxProto.Node.Attribute: attributes.Add(OnnxAttribute.Read(f.Bytes)); break;
            }
        }

        return new OnnxNode(op, inputs, outputs) { Attributes = attributes };
    }

    private static OnnxInitializer ReadTensor(ReadOnlyMemory<byte> bytes)
    {
        var dims = new List<long>();
        var name = "";
        long type = 0;
        float[]? values = null;
        var floats = new List<float>();
        foreach (var f in ProtoReader.Fields(bytes))
        {
            switch (f.Number)
            {
                case OnnxProto.Tensor.Dims when f.WireType == 0: dims.Add((long)f.Varint); break;
                case OnnxProto.Tensor.Dims: dims.AddRange(ProtoReader.PackedVarints(f.Bytes)); break;
                case OnnxProto.Tensor.DataType: type = (long)f.Varint; break;
                case OnnxProto.Tensor.Name: name = f.Text; break;
                case OnnxProto.Tensor.RawData: values = MemoryMarshal.Cast<byte, float>(f.Bytes.Span).ToArray(); break;
                case OnnxProto.Tensor.FloatData when f.WireType == 5: floats.Add(f.Float); break;
                case OnnxProto.Tensor.FloatData: floats.AddRange(MemoryMarshal.Cast<byte, float>(f.Bytes.Span).ToArray()); break;
            }
        }

        values ??= [.. floats];
        if (type != OnnxProto.Tensor.TypeFloat)
        {
            return new OnnxInitializer(name, [.. dims], []);
        }

        var count = dims.Aggregate(1L, (a, b) => a * b);
        if (values.Length != count)
        {
            throw new FormatException($"initializer '{name}': shape [{string.Join(", ", dims)}] needs {count} floats, the file holds {values.Length}");
        }

        return new OnnxInitializer(name, [.. dims], values);
    }
}
