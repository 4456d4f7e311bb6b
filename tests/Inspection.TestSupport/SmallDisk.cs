using Xunit;

namespace Inspection.TestSupport;

/// <summary>A real, tiny file system (tmpfs with a size limit) for full-disk tests: writes past its size fail with ENOSPC
/// as on a full SD card. Mounting needs root (CAP_SYS_ADMIN); <see cref="SmallDiskFactAttribute"/> skips visibly without.</summary>
public sealed class SmallDisk : IDisposable
{
    private readonly TempDirectory _dir = new("inspection-small-disk");

    public SmallDisk(int kilobytes)
    {
        Tools.Run("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k,mode=0755", "tmpfs", _dir.Path);
    }

    public string Path => _dir.Path;

    public string Combine(params string[] parts) => _dir.Combine(parts);

    /// <summary>Fills the disk with a file until a write fails; returns the file (delete it to free the space).</summary>
    public string Fill()
    {
        var filler = Combine("filler");
        using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        var block = new byte[4096];
        try
        {
            while (true)
            {
                stream.Write(block);
            }
        }
        catch (IOException)
        {
            return filler;
        }
    }

    public void Dispose()
    {
        Tools.Run("umount", "-l", _dir.Path);
        _dir.Dispose();
    }

    internal static string? CannotMount()
    {
        try
        {
            new SmallDisk(16).Dispose();
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message.Split('\n')[0];
        }
    }
}

/// <summary>A fact that is skipped, with the reason shown, where a tmpfs cannot be mounted (not root).</summary>
public sealed class SmallDiskFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Problem = new(SmallDisk.CannotMount);

    public SmallDiskFactAttribute()
    {
        if (Problem.Value is { } problem)
        {
            Skip = $"needs to mount a small tmpfs (root): {problem}";
        }
    }
}
