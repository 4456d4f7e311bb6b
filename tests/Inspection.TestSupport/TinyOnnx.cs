using System.Text;
using Inspection.Config.Models;

namespace Inspection.TestSupport;

/// <summary>Writes tiny ONNX models whose answers a test controls: the classifier's logit is gain·(mean brightness − 0.5)
/// and the segmenter's per-pixel logit is gain·(pixel − 0.5), so a bright image is a defect and its bright area the mask.
/// The protobuf is written by hand (a dozen fields of onnx.proto) so the daemon's tests need no trainer run.</summary>
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

    private static byte[] Model(int size, long[] outputShape, string output, byte[][] nodes)
    {
        var graph = new Proto();
        foreach (var node in nodes)
        {
            graph.Bytes(1, node);
        }

        graph.String(2, "tiny");
        graph.Bytes(5, Scalar("half", 0.5f));
        graph.Bytes(5, Scalar("gain", Gain));
        graph.Bytes(11, ValueInfo("input", [1, 1, size, size]));
        graph.Bytes(12, ValueInfo(output, outputShape));
        var opset = new Proto().String(1, "").Varint(2, 13);
        return new Proto().Varint(1, 8).String(2, "inspection-tests").Bytes(7, graph.ToArray()).Bytes(8, opset.ToArray()).ToArray();
    }

    private static byte[] Node(string op, string[] inputs, string[] outputs)
    {
        var node = new Proto();
        foreach (var i in inputs)
        {
            node.String(1, i);
        }

        foreach (var o in outputs)
        {
            node.String(2, o);
        }

        return node.String(3, op + "_" + outputs[0]).String(4, op).ToArray();
    }

    private static byte[] Scalar(string name, float value) =>
        new Proto().Varint(2, 1).Bytes(9, BitConverter.GetBytes(value)).String(8, name).ToArray();

    private static byte[] ValueInfo(string name, long[] shape)
    {
        var dims = new Proto();
        foreach (var d in shape)
        {
            dims.Bytes(1, new Proto().Varint(1, (ulong)d).ToArray());
        }

        var tensor = new Proto().Varint(1, 1).Bytes(2, dims.ToArray());
        var type = new Proto().Bytes(1, tensor.ToArray());
        return new Proto().String(1, name).Bytes(2, type.ToArray()).ToArray();
    }

    private sealed class Proto
    {
        private readonly MemoryStream _stream = new();

        public Proto Varint(int field, ulong value)
        {
            Raw(((ulong)field << 3) | 0);
            Raw(value);
            return this;
        }

        public Proto Bytes(int field, byte[] value)
        {
            Raw(((ulong)field << 3) | 2);
            Raw((ulong)value.Length);
            _stream.Write(value);
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }

        public byte[] ToArray() => _stream.ToArray();
    }
}
