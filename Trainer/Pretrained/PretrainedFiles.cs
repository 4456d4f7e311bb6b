using System.Security.Cryptography;

namespace Inspection.Trainer.Pretrained;

/// <summary>A pretrained file that is missing, damaged or does not have the shape the trainer expects.</summary>
internal sealed class PretrainedException(string message) : Exception(message);

/// <summary>
/// The ImageNet-trained ResNet-18 of the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, copied at build
/// time into the trainer's output folder (pretrained/). Nothing is downloaded at run time. Each file is checked against
/// the SHA-256 recorded here before it is read, so a damaged or truncated copy is an error naming the file.
/// </summary>
internal static class PretrainedFiles
{
    /// <summary>The network: a CNTK export (opset 8) ending in the 512-d average-pooled features.</summary>
    public static readonly PretrainedFile ResNet18 = new("ResNet18.onnx", "e2552f19db2dfdb01b3669537b6a0f1b44da38d18279535492ed5dfc2ef1ff8f");

    /// <summary>Its preprocessing: RGB 0–255 reordered to BGR minus a 224×224 mean image.</summary>
    public static readonly PretrainedFile ResNetPreprocess = new("ResNetPreprocess.onnx", "84bf8def78d0befaa3f6e73745d57d7016c6a192ead76f79686bd438c1047004");

    /// <summary>Where the build puts the files (beside the trainer's assembly).</summary>
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "pretrained");
}

/// <summary>One pretrained file and the SHA-256 of the intact copy.</summary>
internal sealed record PretrainedFile(string Name, string Sha256)
{
    /// <summary>The file's bytes from <paramref name="directory"/> (default <see cref="PretrainedFiles.Directory"/>), after checking the hash.</summary>
    public byte[] ReadVerified(string? directory = null)
    {
        var path = Path.Combine(directory ?? PretrainedFiles.Directory, Name);
        if (!File.Exists(path))
        {
            throw new PretrainedException($"pretrained file {path} is missing (the build copies it from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18; rebuild the trainer, or use --pretrained none)");
        }

        var bytes = File.ReadAllBytes(path);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != Sha256)
        {
            throw new PretrainedException($"pretrained file {path} is damaged: {bytes.Length} bytes with SHA-256 {actual}, expected {Sha256} (rebuild the trainer to copy it again)");
        }

        return bytes;
    }
}
