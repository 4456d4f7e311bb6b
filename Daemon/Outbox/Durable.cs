using System.Runtime.InteropServices;

namespace Inspection.Daemon.Outbox;

/// <summary>Small files replaced so that a crash or power loss leaves either the old or the new content, never a mix.</summary>
internal static partial class Durable
{
    /// <summary>Writes <paramref name="content"/> to a temporary file, fsyncs it, renames it over <paramref name="path"/>
    /// and fsyncs the folder (so the rename itself survives a power loss).</summary>
    public static void ReplaceFile(string path, ReadOnlySpan<byte> content)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>fsync(2) on a folder: makes the renames and creations in it durable.</summary>
    public static void SyncDirectory(string directory)
    {
        var fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            return;
        }

        try
        {
            _ = Fsync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
