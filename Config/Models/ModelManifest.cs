using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inspection.Config.Models;

/// <summary>The two model tasks a package can hold.</summary>
public static class ModelTasks
{
    /// <summary>Whole-image defect classifier: one logit per image.</summary>
    public const string Classifier = "classifier";

    /// <summary>Binary segmentation: one logit per pixel.</summary>
    public const string Segmenter = "segmenter";
}

/// <summary>
/// <c>manifest.json</c> of a model package (<c>models/&lt;task&gt;/&lt;version&gt;/</c>): everything the daemon needs to
/// run <c>model.onnx</c> exactly as the trainer evaluated it, and the evidence behind its threshold.
/// </summary>
public sealed record ModelManifest
{
    /// <summary><see cref="ModelTasks.Classifier"/> or <see cref="ModelTasks.Segmenter"/>.</summary>
    public required string Task { get; init; }

    /// <summary>Version, also the package's folder name.</summary>
    public required string Version { get; init; }

    /// <summary>When the package was written (UTC).</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>Architecture name, e.g. <c>mobilenetv2</c>.</summary>
    public string Arch { get; init; } = "";

    /// <summary>Input tensor and the preprocessing that produces it.</summary>
    public required InputSpec Input { get; init; }

    /// <summary>What the model outputs.</summary>
    public required OutputSpec Output { get; init; }

    /// <summary>Decision threshold and its evidence.</summary>
    public required ThresholdSpec Threshold { get; init; }

    /// <summary>How the model was trained.</summary>
    public TrainingSpec Training { get; init; } = new();

    /// <summary>Held-out metrics by split (<c>validation</c>, <c>test</c>) and name.</summary>
    public Dictionary<string, Dictionary<string, double>> Metrics { get; init; } = [];

    /// <summary>SHA-256 of <c>model.onnx</c>, lower-case hex.</summary>
    public required string OnnxSha256 { get; init; }

    /// <summary>The trainer's quality gate verdict; null in packages written without one.</summary>
    public GateRecord? Gate { get; init; }

    /// <summary>How <c>model.onnx</c> was quantized (<c>trainer quantize</c>); null for a float (FP32) model.</summary>
    public QuantizationSpec? Quantization { get; init; }

    /// <summary>JSON settings of the contract: snake_case names, indented.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter<OutputKind>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    /// <summary>Reads and checks a manifest; throws <see cref="ModelPackageException"/> naming the file and field.</summary>
    public static ModelManifest Load(string path)
    {
        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), JsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new ModelPackageException($"{path}: cannot read manifest: {ex.Message}");
        }

        if (manifest is null)
        {
            throw new ModelPackageException($"{path}: manifest is empty");
        }

        manifest.Check(path);
        return manifest;
    }

    /// <summary>Writes the manifest as JSON.</summary>
    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    private void Check(string path)
    {
        string? problem = null;
        if (Task is not (ModelTasks.Classifier or ModelTasks.Segmenter))
        {
            problem = $"task must be '{ModelTasks.Classifier}' or '{ModelTasks.Segmenter}' (got '{Task}')";
        }
        else if (Input.Width <= 0 || Input.Height <= 0 || Input.Channels is not (1 or 3))
        {
            problem = $"input must have positive width/height and 1 or 3 channels (got {Input.Width}x{Input.Height}x{Input.Channels})";
        }
        else if (Input.Mean.Length != Input.Channels || Input.Std.Length != Input.Channels || Input.Std.Any(s => s <= 0))
        {
            problem = $"input.mean and input.std need one value per channel ({Input.Channels}) and std > 0";
        }
        else if (!double.IsFinite(Threshold.Value) || Threshold.Value is <= 0 or >= 1)
        {
            problem = $"threshold.value must be a probability in (0, 1) (got {Threshold.Value})";
        }
        else if (OnnxSha256.Length != 64)
        {
            problem = "onnx_sha256 must be 64 hex digits";
        }

        if (problem is not null)
        {
            throw new ModelPackageException($"{path}: {problem}");
        }
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256Of(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>Input tensor layout and preprocessing. Shared by trainer and daemon through Inspection.Inference's preprocessor.</summary>
public sealed record InputSpec
{
    /// <summary>Tensor width.</summary>
    public required int Width { get; init; }

    /// <summary>Tensor height.</summary>
    public required int Height { get; init; }

    /// <summary>1 (grey) or 3 (colour).</summary>
    public required int Channels { get; init; }

    /// <summary><c>grey</c> or <c>rgb</c>: channel order of the tensor.</summary>
    public string Colour { get; init; } = "grey";

    /// <summary>Per-channel mean subtracted after scaling pixels to [0, 1].</summary>
    public required float[] Mean { get; init; }

    /// <summary>Per-channel standard deviation divided by after subtracting the mean.</summary>
    public required float[] Std { get; init; }

    /// <summary>Always <c>NCHW</c>.</summary>
    public string Layout { get; init; } = "NCHW";

    /// <summary><c>stretch</c> (resize to exactly width×height) or <c>letterbox</c> (keep aspect, pad with zeros).</summary>
    public string Resize { get; init; } = "stretch";

    /// <summary>Name of the ONNX input.</summary>
    public string Name { get; init; } = "input";
}

/// <summary>Model output.</summary>
public sealed record OutputSpec
{
    /// <summary>Name of the ONNX output.</summary>
    public string Name { get; init; } = "logit";

    /// <summary>What the output's numbers are; Inspection.Inference turns each kind into a defect probability.</summary>
    public OutputKind Kind { get; init; } = OutputKind.Logit;

    /// <summary>
    /// Classifier only, optional: name of a second ONNX output, the class activation map [N,1,h,w] at the feature map's
    /// low resolution: the head's logit at each position (their mean is the image's logit), showing where the network
    /// saw a defect. Null (packages written before it, segmenters): no such output.
    /// </summary>
    public string? Cam { get; init; }
}

/// <summary>
/// What a model's output holds, per image (classifier) or per pixel (segmenter). In the manifest as snake_case text;
/// an unknown kind makes the manifest unreadable rather than being guessed at.
/// </summary>
public enum OutputKind
{
    /// <summary>One logit: probability = sigmoid(x). Output shape [N,1] (classifier) or [N,1,H,W] (segmenter).</summary>
    Logit,

    /// <summary>One probability in [0, 1], used as is.</summary>
    Probability,

    /// <summary>Two class logits (good, defect): probability = softmax(x)[1]. Shape [N,2] or [N,2,H,W].</summary>
    TwoClassLogits,

    /// <summary>Two class probabilities (good, defect): probability = x[1].</summary>
    TwoClassProbabilities,
}

/// <summary>The decision threshold and the validation evidence behind it.</summary>
public sealed record ThresholdSpec
{
    /// <summary>Probability at or above which a sample (or pixel) is a defect.</summary>
    public required double Value { get; init; }

    /// <summary>Recall the threshold was chosen to reach; null when chosen otherwise (e.g. best IoU).</summary>
    public double? RecallTarget { get; init; }

    /// <summary>How it was chosen: <c>recall-target</c>, <c>best-iou</c>, <c>best-f1</c>, …</summary>
    public string Method { get; init; } = "recall-target";

    /// <summary>Recall reached on validation.</summary>
    public double Recall { get; init; }

    /// <summary>Precision reached on validation.</summary>
    public double Precision { get; init; }

    /// <summary>One-sided lower confidence bound of the recall (Clopper–Pearson).</summary>
    public double RecallLowerBound { get; init; }

    /// <summary>Confidence level of <see cref="RecallLowerBound"/>.</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>Number of defective samples (or pixels) the recall rests on.</summary>
    public long Positives { get; init; }
}

/// <summary>Provenance of the training run.</summary>
public sealed record TrainingSpec
{
    /// <summary>SHA-256 over the dataset's file list and labels.</summary>
    public string DatasetFingerprint { get; init; } = "";

    /// <summary>Where the data came from.</summary>
    public string Dataset { get; init; } = "";

    /// <summary>Split seed and sizes.</summary>
    public Dictionary<string, double> Split { get; init; } = [];

    /// <summary>Epochs run.</summary>
    public int Epochs { get; init; }

    /// <summary>Augmentation settings, as text key → value.</summary>
    public Dictionary<string, string> Augmentation { get; init; } = [];

    /// <summary>Version of the package training started from, if any.</summary>
    public string? InitFrom { get; init; }
}

/// <summary>
/// An INT8 package: how its QDQ graph was made from which FP32 package, and how closely it agrees with it. The FP32
/// sibling stays beside it in the same task folder (<see cref="Fp32Version"/>).
/// </summary>
public sealed record QuantizationSpec
{
    /// <summary>The value of <see cref="Precision"/> for INT8 packages.</summary>
    [SuppressMessage("Microsoft.Design", "CA1720:Identifier contains type name", Justification = "Names the INT8 precision, the manifest value it holds.")]
    public const string Int8 = "int8";

    /// <summary><c>int8</c>.</summary>
    public string Precision { get; init; } = Int8;

    /// <summary>The graph form and number types, e.g. QDQ with per-channel int8 weights and per-tensor uint8 activations.</summary>
    public string Format { get; init; } = "";

    /// <summary>How activation ranges were calibrated: <c>min-max</c>, <c>percentile</c> or <c>entropy</c>.</summary>
    public string CalibrationMethod { get; init; } = "";

    /// <summary>Number of training-split images the ranges were calibrated on.</summary>
    public int CalibrationImages { get; init; }

    /// <summary>Version (folder name, same task folder) of the FP32 package this one was quantized from.</summary>
    public string Fp32Version { get; init; } = "";

    /// <summary>SHA-256 of the FP32 sibling's <c>model.onnx</c>.</summary>
    public string Fp32OnnxSha256 { get; init; } = "";

    /// <summary>
    /// Agreement with the FP32 sibling on the validation and test images (classifier: per image; segmenter: per pixel):
    /// <c>decision_agreement</c> at the FP32 threshold, <c>decision_agreement_own_thresholds</c> (each model at its own),
    /// <c>max_score_difference</c> (largest |INT8 − FP32| probability), <c>mean_score_difference</c>, <c>samples</c>.
    /// </summary>
    public Dictionary<string, double> Parity { get; init; } = [];
}

/// <summary>The quality gate's verdict on a package, as the trainer recorded it.</summary>
public sealed record GateRecord
{
    /// <summary>Whether the gate let the package become <c>current</c>.</summary>
    public bool Passed { get; init; }

    /// <summary>True when the gate refused it and <c>--force</c> made it current anyway.</summary>
    public bool Forced { get; init; }

    /// <summary>The gate's reason, one line.</summary>
    public string Reason { get; init; } = "";

    /// <summary>The policy it was judged by.</summary>
    public string Policy { get; init; } = "";

    /// <summary>Every check, passed or not.</summary>
    public List<string> Checks { get; init; } = [];
}

/// <summary>A model package that cannot be used.</summary>
public sealed class ModelPackageException(string message) : Exception(message);
