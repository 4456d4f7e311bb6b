namespace Inspection.Config.Models;

/// <summary>
/// A model package on disk: <c>models/&lt;task&gt;/&lt;version&gt;/{model.onnx, manifest.json, weights.bin}</c>,
/// with <c>models/&lt;task&gt;/current</c> a symbolic link to the live version.
/// </summary>
public sealed record ModelPackage(string Directory, ModelManifest Manifest)
{
    /// <summary>ONNX graph file name.</summary>
    public const string OnnxFile = "model.onnx";

    /// <summary>Manifest file name.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>TorchSharp weights file name.</summary>
    public const string WeightsFile = "weights.bin";

    /// <summary>Name of the link to the live version.</summary>
    public const string CurrentLink = "current";

    /// <summary>Path of <c>model.onnx</c>.</summary>
    public string OnnxPath => Path.Combine(Directory, OnnxFile);

    /// <summary>Path of <c>weights.bin</c>.</summary>
    public string WeightsPath => Path.Combine(Directory, WeightsFile);

    /// <summary>Opens a package folder, checks its manifest and that <c>model.onnx</c> matches the recorded hash.</summary>
    public static ModelPackage Open(string directory)
    {
        var full = Path.GetFullPath(directory);
        var manifestPath = Path.Combine(full, ManifestFile);
        var onnx = Path.Combine(full, OnnxFile);
        if (!File.Exists(manifestPath) || !File.Exists(onnx))
        {
            throw new ModelPackageException($"{full}: not a model package (needs {ManifestFile} and {OnnxFile})");
        }

        var manifest = ModelManifest.Load(manifestPath);
        var hash = ModelManifest.Sha256Of(onnx);
        if (!string.Equals(hash, manifest.OnnxSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelPackageException($"{onnx}: SHA-256 {hash} does not match the manifest's {manifest.OnnxSha256}; the file is corrupt or was replaced");
        }

        return new ModelPackage(full, manifest);
    }

    /// <summary>Opens <c>{modelsDirectory}/{task}/current</c>.</summary>
    public static ModelPackage OpenCurrent(string modelsDirectory, string task)
    {
        var link = Path.Combine(modelsDirectory, task, CurrentLink);
        if (!System.IO.Directory.Exists(link))
        {
            throw new ModelPackageException($"{link}: no current {task} package (train one with 'trainer', or point Models:Directory at a folder that has one)");
        }

        return Open(ResolveCurrent(modelsDirectory, task)!);
    }

    /// <summary>The folder <c>current</c> points at, or null when there is none.</summary>
    public static string? ResolveCurrent(string modelsDirectory, string task)
    {
        var link = new DirectoryInfo(Path.Combine(modelsDirectory, task, CurrentLink));
        if (!link.Exists)
        {
            return null;
        }

        var target = link.ResolveLinkTarget(returnFinalTarget: true);
        return target?.FullName ?? link.FullName;
    }

    /// <summary>Points <c>{modelsDirectory}/{task}/current</c> at <paramref name="versionDirectory"/> atomically (temp link, then rename).</summary>
    public static void MakeCurrent(string modelsDirectory, string task, string versionDirectory)
    {
        var taskDir = Path.Combine(modelsDirectory, task);
        System.IO.Directory.CreateDirectory(taskDir);
        var relative = Path.GetRelativePath(taskDir, Path.GetFullPath(versionDirectory));
        var temp = Path.Combine(taskDir, $".{CurrentLink}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        File.CreateSymbolicLink(temp, relative);

        // rename(2) replaces the old link in one step: a reader sees the old or the new version, never neither.
        // (File.Move refuses here: it follows the link and finds a directory.)
        if (Rename(temp, Path.Combine(taskDir, CurrentLink)) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            File.Delete(temp);
            throw new IOException($"cannot switch {Path.Combine(taskDir, CurrentLink)} to {relative}: errno {errno}");
        }

        // The rename is on disk once the task folder is flushed.
        DurableFiles.FlushDirectory(taskDir);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldPath, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newPath);
}
