using System.Runtime.InteropServices;

namespace Inspection.Config.Models;

/// <summary>Flushes files and folders to disk (fsync), so a package that <c>current</c> points at survives a power
/// cut: the files' data, the folder's entries and the link's rename are all on disk before the next step relies on them.</summary>
public static class DurableFiles
{
    /// <summary>fsync of one file.</summary>
    public static void FlushFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>fsync of every file directly in <paramref name="directory"/>, then of the folder itself.</summary>
    public static void FlushTree(string directory)
    {
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            FlushFile(file);
        }

        FlushDirectory(directory);
    }

    /// <summary>fsync of a folder: its entries (created, renamed, removed files) reach the disk.</summary>
    public static void FlushDirectory(string directory)
    {
        var fd = Open(directory, ORdOnly | ODirectory);
        if (fd < 0)
        {
            throw new IOException($"{directory}: cannot open the folder to flush it: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"{directory}: fsync failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000; // Linux x86-64 and arm64

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
