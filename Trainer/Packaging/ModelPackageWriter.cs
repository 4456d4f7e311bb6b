using System.Globalization;
using Inspection.Config.Models;
using Inspection.Trainer.Export;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Packaging;

/// <summary>What goes into a package's manifest besides what the writer computes (version, time, hash).</summary>
internal sealed record PackageContent
{
    /// <summary><see cref="ModelTasks.Classifier"/> or <see cref="ModelTasks.Segmenter"/>.</summary>
    public required string Task { get; init; }

    /// <summary>Architecture name recorded in the manifest.</summary>
    public required string Arch { get; init; }

    /// <summary>Input tensor and preprocessing; its width, height and channels are the exported input shape.</summary>
    public required InputSpec Input { get; init; }

    /// <summary>Output name and kind.</summary>
    public OutputSpec Output { get; init; } = new();

    /// <summary>Threshold and its evidence.</summary>
    public required ThresholdSpec Threshold { get; init; }

    /// <summary>Training provenance.</summary>
    public TrainingSpec Training { get; init; } = new();

    /// <summary>Metrics by split and name.</summary>
    public Dictionary<string, Dictionary<string, double>> Metrics { get; init; } = [];

    /// <summary>Folder name of the version; default: UTC time <c>yyyyMMdd-HHmmss</c> (with a suffix if taken).</summary>
    public string? Version { get; init; }

    /// <summary>The quality gate's verdict, recorded in the manifest.</summary>
    public GateRecord? Gate { get; init; }

    /// <summary>How the model was quantized; null for FP32.</summary>
    public QuantizationSpec? Quantization { get; init; }
}

/// <summary>A written package and the export's parity figure.</summary>
/// <param name="Package">The package as <see cref="ModelPackage.Open"/> reads it back.</param>
/// <param name="Export">The ONNX export and its parity with TorchSharp.</param>
/// <param name="IsCurrent">Whether <c>current</c> now points at it.</param>
internal sealed record WrittenPackage(ModelPackage Package, OnnxExport Export, bool IsCurrent);

/// <summary>
/// Writes a model package (<c>models/&lt;task&gt;/&lt;version&gt;/{model.onnx, manifest.json, weights.bin}</c>): exports
/// and verifies the ONNX graph, saves the TorchSharp weights, writes the manifest with the ONNX hash, and optionally
/// switches <c>current</c> to it. Everything is written into a hidden staging folder first and renamed into place, so
/// a failed export or a crash leaves no half-written version, and <c>current</c> only ever points at a complete one.
/// </summary>
internal static class ModelPackageWriter
{
    /// <summary>Writes the package under <paramref name="modelsDirectory"/> and returns it re-opened from disk.</summary>
    /// <param name="modelsDirectory">The models root (holding <c>classifier/</c>, <c>segmenter/</c>).</param>
    /// <param name="model">The trained module (must implement <see cref="IOnnxExportable"/>); left in eval mode.</param>
    /// <param name="content">Manifest content.</param>
    /// <param name="makeCurrent">Point <c>current</c> at the new version.</param>
    /// <param name="extraFiles">Further text files to place in the package (name → content), e.g. a rejection note.</param>
    /// <param name="log">Where the parity figure is printed (default: standard error).</param>
    public static WrittenPackage Write(string modelsDirectory, nn.Module<Tensor, Tensor> model, PackageContent content, bool makeCurrent,
        IReadOnlyDictionary<string, string>? extraFiles = null, TextWriter? log = null)
    {
        using var staged = Stage(modelsDirectory, model, content, log);
        return staged.Commit(content, makeCurrent, extraFiles);
    }

    /// <summary>
    /// Exports and verifies the ONNX graph and saves the weights into a hidden staging folder, with a manifest from
    /// <paramref name="content"/>, so the exported model can be scored through Inspection.Inference (what the daemon will
    /// run) before its threshold and gate verdict are final. <see cref="StagedPackage.Commit"/> finishes it; disposing
    /// an uncommitted one deletes the staging folder.
    /// </summary>
    public static StagedPackage Stage(string modelsDirectory, nn.Module<Tensor, Tensor> model, PackageContent content, TextWriter? log = null)
    {
        var export = OnnxExporter.Export(model, content.Input.Channels, content.Input.Height, content.Input.Width,
            content.Input.Name, content.Output.Name, camName: content.Output.Cam);
        (log ?? Console.Error).WriteLine(FormattableString.Invariant(
            $"ONNX export: {export.Onnx.Length / 1024.0:F0} KiB, opset {OnnxExporter.Opset}, max |ONNX Runtime - TorchSharp| = {export.MaxAbsDifference:E2} (limit {OnnxExporter.Tolerance:E0})"));
        return Stage(modelsDirectory, export, content, staging => model.save(Path.Combine(staging, ModelPackage.WeightsFile)));
    }

    /// <summary>
    /// Stages an ONNX model made otherwise (e.g. quantized from another package): writes it and a manifest from
    /// <paramref name="content"/>; <paramref name="addFiles"/> writes further files into the staging folder.
    /// </summary>
    public static StagedPackage Stage(string modelsDirectory, OnnxExport export, PackageContent content, Action<string> addFiles)
    {
        var taskDir = Path.Combine(Path.GetFullPath(modelsDirectory), content.Task);
        Directory.CreateDirectory(taskDir);
        var version = content.Version ?? FreeVersion(taskDir);
        var final = Path.Combine(taskDir, version);
        if (Directory.Exists(final))
        {
            throw new IOException($"{final}: a package with version '{version}' already exists");
        }

        var staging = Path.Combine(taskDir, $".staging-{version}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            File.WriteAllBytes(Path.Combine(staging, ModelPackage.OnnxFile), export.Onnx);
            addFiles(staging);
            var staged = new StagedPackage(modelsDirectory, staging, final, version, export);
            staged.WriteManifest(content);
            return staged;
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>Loads a package's <c>weights.bin</c> into a module of the same architecture; errors name the file.</summary>
    public static void LoadWeights(nn.Module<Tensor, Tensor> model, ModelPackage package)
    {
        var path = package.WeightsPath;
        if (!File.Exists(path))
        {
            throw new ModelPackageException($"{path}: package has no weights file, cannot continue training from it (use --init scratch)");
        }

        try
        {
            model.load(path, strict: true);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException or EndOfStreamException)
        {
            throw new ModelPackageException($"{path}: weights do not fit a {package.Manifest.Arch} model of this size: {ex.Message}");
        }
    }

    private static string FreeVersion(string taskDir)
    {
        var stem = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var version = stem;
        for (var i = 2; Directory.Exists(Path.Combine(taskDir, version)); i++)
        {
            version = $"{stem}-{i}";
        }

        return version;
    }
}

/// <summary>A package exported into its staging folder, not yet published; see <see cref="ModelPackageWriter.Stage"/>.</summary>
internal sealed class StagedPackage : IDisposable
{
    private readonly string _modelsDirectory;
    private readonly string _staging;
    private readonly string _final;
    private readonly string _version;
    private bool _committed;

    internal StagedPackage(string modelsDirectory, string staging, string final, string version, OnnxExport export)
    {
        _modelsDirectory = modelsDirectory;
        _staging = staging;
        _final = final;
        _version = version;
        Export = export;
    }

    /// <summary>The ONNX export and its parity with TorchSharp.</summary>
    public OnnxExport Export { get; }

    /// <summary>The staged package as <see cref="ModelPackage.Open"/> reads it (hash checked): score it with Inspection.Inference.</summary>
    public ModelPackage Package => ModelPackage.Open(_staging);

    /// <summary>Writes the final manifest and extra files, flushes everything to disk, moves the folder into place and,
    /// if asked, points <c>current</c> at it (the rename flushed too). Returns the package re-opened from its final place.</summary>
    public WrittenPackage Commit(PackageContent content, bool makeCurrent, IReadOnlyDictionary<string, string>? extraFiles = null)
    {
        foreach (var (name, text) in extraFiles ?? new Dictionary<string, string>())
        {
            File.WriteAllText(Path.Combine(_staging, name), text);
        }

        WriteManifest(content);
        ModelPackage.Open(_staging); // refuse to publish anything the daemon would refuse

        // Data and folder entries on disk before the rename, the rename on disk before current may point at it.
        DurableFiles.FlushTree(_staging);
        Directory.Move(_staging, _final);
        _committed = true;
        DurableFiles.FlushDirectory(Path.GetDirectoryName(_final)!);
        if (makeCurrent)
        {
            ModelPackage.MakeCurrent(_modelsDirectory, content.Task, _final);
        }

        return new WrittenPackage(ModelPackage.Open(_final), Export, makeCurrent);
    }

    internal void WriteManifest(PackageContent content)
    {
        var onnxPath = Path.Combine(_staging, ModelPackage.OnnxFile);
        new ModelManifest
        {
            Task = content.Task,
            Version = _version,
            CreatedAt = DateTimeOffset.UtcNow,
            Arch = content.Arch,
            Input = content.Input,
            Output = content.Output,
            Threshold = content.Threshold,
            Training = content.Training,
            Metrics = content.Metrics,
            OnnxSha256 = ModelManifest.Sha256Of(onnxPath),
            Gate = content.Gate,
            Quantization = content.Quantization,
        }.Save(Path.Combine(_staging, ModelPackage.ManifestFile));
    }

    /// <summary>Deletes the staging folder unless committed.</summary>
    public void Dispose()
    {
        if (!_committed && Directory.Exists(_staging))
        {
            Directory.Delete(_staging, recursive: true);
        }
    }
}
