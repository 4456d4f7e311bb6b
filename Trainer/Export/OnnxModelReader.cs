using System.Runtime.InteropServices;

namespace Inspection.Trainer.Export;

/// <summary>A node of an ONNX graph: op type, input and output names (attributes are not needed by the importer).</summary>
public sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>A float initializer: name, shape and values.</summary>
public sealed record OnnxInitializer(string Name, long[] Dims, float[] Values);

/// <summary>
/// The parts of an ONNX model the pretrained import reads: the graph's nodes in order and its float initializers
/// (raw_data or float_data). Field numbers are those of <see cref="OnnxProto"/>.
/// </summary>
public sealed class OnnxModelReader
{
    private OnnxModelReader(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxInitializer> initializers)
    {
        Nodes = nodes;
        Initializers = initializers;
    }

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
        foreach (var field in ProtoReader.Fields(graph.Bytes))
        {
            if (field.Number == OnnxProto.Graph.Node)
            {
                nodes.Add(ReadNode(field.Bytes));
            }
            else if (field.Number == OnnxProto.Graph.Initializer)
            {
                var init = ReadTensor(field.Bytes);
                initializers[init.Name] = init;
            }
        }

        return new OnnxModelReader(nodes, initializers);
    }

    private static OnnxNode ReadNode(ReadOnlyMemory<byte> bytes)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var op = "";
        foreach (var f in ProtoReader.Fields(bytes))
        {
            switch (f.Number)
            {
                case OnnxProto.Node.Input: inputs.Add(f.Text); break;
                case OnnxProto.Node.Output: outputs.Add(f.Text); break;
                case OnnxProto.Node.OpType: op = f.Text; break;
            }
        }

        return new OnnxNode(op, inputs, outputs);
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
