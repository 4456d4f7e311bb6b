using System.Runtime.InteropServices;
using Inspection.Camera.Preprocessing;
using Inspection.Config.Options;
using OpenCvSharp;

namespace Inspection.Daemon.Commands;

/// <summary>Reads the image an inspect request names, only from inside <see cref="InspectOptions.AllowedFolders"/>.
/// The path is checked as written, then the file is opened once and the real path of what was opened (every directory
/// link resolved, read back from <c>/proc/self/fd</c>) is checked against the real paths of the folders; the image is
/// decoded from the bytes read through that same handle, so swapping a link between check and read changes nothing.
/// A file that is missing, unreadable or outside once resolved gets one and the same answer, which tells nothing about
/// files outside the folders. The header's dimensions are checked against <see cref="InspectOptions.MaxImagePixels"/>
/// before decoding.</summary>
internal sealed partial class AllowedImages(InspectOptions options)
{
    /// <summary>Decodes the named image; <see cref="CommandException"/> with the reason when refused.</summary>
    public (Mat Image, string Path) Read(string imagePath)
    {
        if (!Path.IsPathFullyQualified(imagePath))
        {
            throw new CommandException($"image_path '{imagePath}' must be an absolute path");
        }

        if (options.AllowedFolders.Count == 0)
        {
            throw new CommandException($"image_path '{imagePath}' refused: no folders are allowed (Inspect:AllowedFolders is empty)");
        }

        var full = Path.GetFullPath(imagePath);
        if (!options.AllowedFolders.Any(folder => IsInside(full, Path.GetFullPath(folder))))
        {
            throw new CommandException($"image_path '{imagePath}' is outside the allowed folders ({string.Join(", ", options.AllowedFolders)})");
        }

        var refused = new CommandException($"image_path '{imagePath}' is not a readable file inside the allowed folders");
        byte[] data;
        try
        {
            using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read);
            var opened = new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
            if (opened is null || !options.AllowedFolders.Any(folder => RealPath(folder) is { } real && IsInside(opened, real)))
            {
                throw refused;
            }

            // An uncompressed 16-bit, 4-channel image of the largest size allowed, plus headers, is the most a file may hold.
            var length = RandomAccess.GetLength(handle);
            if (length > (options.MaxImagePixels * 8) + (1 << 20))
            {
                throw new CommandException($"image_path '{imagePath}' is {length} bytes, more than an image of Inspect:MaxImagePixels ({options.MaxImagePixels}) can take");
            }

            data = new byte[length];
            var read = 0;
            while (read < data.Length && RandomAccess.Read(handle, data.AsSpan(read), read) is var n and > 0)
            {
                read += n;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw refused;
        }

        try
        {
            return (ImageFiles.Decode(data, imagePath, options.MaxImagePixels), full);
        }
        catch (ImageReadException ex)
        {
            throw new CommandException(ex.Message.Contains("allowed", StringComparison.Ordinal) ? ex.Message + " (Inspect:MaxImagePixels)" : ex.Message);
        }
    }

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    // realpath(3): the folder with every link resolved, or null when it does not exist.
    private static string? RealPath(string path)
    {
        var resolved = RealPath(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
