using OpenCvSharp;

namespace Inspection.Camera.Preprocessing;

/// <summary>An image file that cannot be decoded.</summary>
public sealed class ImageReadException(string message) : Exception(message);

/// <summary>Reads image files (PNG, BMP, JPEG, TIFF; 8 or 16 bit; grey or colour) with errors that name the file.</summary>
public static class ImageFiles
{
    /// <summary>Extensions treated as images when scanning folders.</summary>
    public static readonly IReadOnlySet<string> Extensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff",
    };

    /// <summary>True when the path has an image extension.</summary>
    public static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path));

    /// <summary>Decodes a file keeping its depth and channels; throws <see cref="ImageReadException"/> naming the file.</summary>
    public static Mat Read(string path, ImreadModes mode = ImreadModes.Unchanged)
    {
        if (!File.Exists(path))
        {
            throw new ImageReadException($"{path}: file does not exist");
        }

        var mat = Cv2.ImRead(path, mode);
        if (mat.Empty())
        {
            mat.Dispose();
            var length = new FileInfo(path).Length;
            throw new ImageReadException($"{path}: cannot decode as an image ({length} bytes; corrupt, truncated or not PNG/BMP/JPEG/TIFF)");
        }

        return mat;
    }

    /// <summary>Decodes an image file's bytes (already read) after checking the header's dimensions against
    /// <paramref name="maxPixels"/>, so an image bomb is refused before the decoder allocates its pixels. Throws
    /// <see cref="ImageReadException"/> naming <paramref name="name"/>.</summary>
    public static Mat Decode(byte[] data, string name, long maxPixels, ImreadModes mode = ImreadModes.Unchanged)
    {
        if (ImageHeader.ReadSize(data) is not var (width, height))
        {
            throw new ImageReadException($"{name}: not a PNG, BMP, JPEG or TIFF image ({data.Length} bytes)");
        }

        if (width <= 0 || height <= 0 || width * height > maxPixels)
        {
            throw new ImageReadException($"{name}: {width}x{height} pixels, more than the {maxPixels} allowed");
        }

        var mat = Cv2.ImDecode(data, mode);
        if (mat.Empty())
        {
            mat.Dispose();
            throw new ImageReadException($"{name}: cannot decode as an image ({data.Length} bytes; corrupt or truncated)");
        }

        return mat;
    }
}
