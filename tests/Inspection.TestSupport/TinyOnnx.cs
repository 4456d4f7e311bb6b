using Inspection.Config.Models;
using Inspection.Inference.Onnx;

namespace Inspection.TestSupport;

/// <summary>Writes tiny ONNX models whose answers a test controls: the classifier's logit is gain·(mean brightness − 0.5)
/// and the segmenter's per-pixel logit is gain·(pixel − 0.5), so a bright image is a defect and its bright area the mask.
/// The graph is written field by field with the product's <see cref="ProtoWriter"/> (a dozen fields of onnx.proto), so the
/// daemon's tests need no trainer run.</summary>
public static class TinyOnnx
{
    public const int Size = 32;

    /// <summary>Writes a classifier and a segmenter package under <paramref name="modelsDirectory"/> and makes them current.</summary>
    public static void WriteCurrent(string modelsDirectory, string version, double classifierThreshold = 0.5, int size = Size)
    {
        MakeCurrent(modelsDirectory, WritePackage(modelsDirectory, ModelTasks.Classifier, version, classifierThreshold, size));
        MakeCurrent(modelsDirectory, WritePackage(modelsDirectory, ModelTasks.Segmenter, version, 0.5, size));
    }

    public static void MakeCurrent(string modelsDirectory, string packageDirectory) =>
        ModelPackage.MakeCurrent(modelsDirectory, Path.GetFileName(Path.GetDirectoryName(packageDirectory))!, packageDirectory);

    public static string WritePackage(string modelsDirectory, string task, string version, double threshold, int size = Size, int onnxSize = -1, byte[]? onnxBytes = null)
    {
        var dir = Path.Combine(modelsDirectory, task, version);
        Directory.CreateDirectory(dir);
        var onnx = Path.Combine(dir, ModelPackage.OnnxFile);
        File.WriteAllBytes(onnx, onnxBytes ?? (task == ModelTasks.Classifier ? Classifier(onnxSize > 0 ? onnxSize : size) : Segmenter(onnxSize > 0 ? onnxSize : size)));
        new ModelManifest
        {
            Task = task,
            Version = version,
            CreatedAt = DateTimeOffset.UtcNow,
            Arch = "tiny-test",
            Input = new InputSpec { Width = size, Height = size, Channels = 1, Colour = "grey", Mean = [0f], Std = [1f] },
            Output = new OutputSpec { Name = task == ModelTasks.Classifier ? "logit" : "mask_logit", Kind = OutputKind.Logit },
            Threshold = new ThresholdSpec { Value = threshold, RecallTarget = 0.99, Recall = 1, Precision = 0.9, Positives = 10 },
            OnnxSha256 = ModelManifest.Sha256Of(onnx),
        }.Save(Path.Combine(dir, ModelPackage.ManifestFile));
        return dir;
    }

    private const float Gain = 20f;

    public static byte[] Classifier(int size) => Model(size, [1, 1, 1, 1], "logit",
        [Node("GlobalAveragePool", ["input"], ["mean"]), Node("Sub", ["mean", "half"], ["centred"]), Node("Mul", ["centred", "gain"], ["logit"])]);

    public static byte[] Segmenter(int size) => Model(size, [1, 1, size, size], "mask_logit",
        [Node("Sub", ["input", "half"], ["centred"]), Node("Mul", ["centred", "gain"], ["mask_logit"])]);

    /// <summary>A classifier that loads (its declared input and [1,1] output match the manifest) but fails at its first
    /// run: the graph really computes a whole map, which does not fit the one-value output buffer.</summary>
    public static byte[] FailsAtRun(int size) => Model(size, [1, 1], "logit",
        [Node("Sub", ["input", "half"], ["centred"]), Node("Mul", ["centred", "gain"], ["logit"])]);

    // onnx.proto field numbers: ModelProto ir_version 1, producer_name 2, graph 7, opset_import 8; GraphProto node 1,
    // name 2, initializer 5, input 11, output 12; NodeProto input 1, output 2, name 3, op_type 4; TensorProto dims 1,
    // data_type 2 (1 = float), name 8, raw_data 9.
    private static byte[] Model(int size, long[] outputShape, string output, Action<ProtoWriter>[] nodes) =>
        new ProtoWriter()
            .Varint(1, 8)
            .String(2, "inspection-tests")
            .Message(7, graph =>
            {
                foreach (var node in nodes)
                {
                    graph.Message(1, node);
                }

                graph.String(2, "tiny")
                    .Message(5, Scalar("half", 0.5f))
                    .Message(5, Scalar("gain", Gain))
                    .Message(11, ValueInfo("input", [1, 1, size, size]))
                    .Message(12, ValueInfo(output, outputShape));
            })
            .Message(8, opset => opset.String(1, "").Varint(2, 13))
            .ToArray();

    private static Action<ProtoWriter> Node(string op, string[] inputs, string[] outputs) => node =>
    {
        foreach (var i in inputs)
        {
            node.String(1, i);
        }

        foreach (var o in outputs)
        {
            node.String(2, o);
        }

        node.String(3, op + "_" + outputs[0]).String(4, op);
    };

    private static Action<ProtoWriter> Scalar(string name, float value) => tensor =>
        tensor.Varint(2, 1).Bytes(9, BitConverter.GetBytes(value)).String(8, name);

    // ValueInfoProto name 1, type 2; TypeProto tensor_type 1; Tensor elem_type 1, shape 2; TensorShapeProto dim 1; Dimension dim_value 1.
    private static Action<ProtoWriter> ValueInfo(string name, long[] shape) => info =>
        info.String(1, name).Message(2, type => type.Message(1, tensor => tensor.Varint(1, 1).Message(2, dims =>
        {
            foreach (var d in shape)
            {
                dims.Message(1, dim => dim.Varint(1, d));
            }
        })));
}
