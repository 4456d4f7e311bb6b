using OpenCvSharp;

namespace Inspection.Trainer.Tests;

/// <summary>Small classification data made in the test: grey textures, the defective ones with a drawn scratch.</summary>
internal static class SyntheticData
{
    /// <summary>Writes <c>good/</c> and <c>defect/</c> PNGs under <paramref name="root"/>; returns the root.</summary>
    public static string TextureFolders(string root, int perClass, int size = 64, int seed = 1, bool colour = false)
    {
        var random = new Random(seed);
        foreach (var (folder, scratch) in new[] { ("good", false), ("defect", true) })
        {
            Directory.CreateDirectory(Path.Combine(root, folder));
            for (var i = 0; i < perClass; i++)
            {
                using var image = Texture(random, size, scratch, colour);
                Cv2.ImWrite(Path.Combine(root, folder, $"{folder}{i:D3}.png"), image);
            }
        }

        return root;
    }

    /// <summary>Blurred noise around mid-grey; a scratch is a dark line 3 px wide across a random part of the image.</summary>
    public static Mat Texture(Random random, int size, bool scratch, bool colour = false)
    {
        using var noise = new Mat(size, size, MatType.CV_8UC1);
        var level = 110 + random.Next(40);
        Cv2.Randn(noise, new Scalar(level), new Scalar(25));
        var image = new Mat();
        Cv2.GaussianBlur(noise, image, new Size(3, 3), 0.8);
        if (scratch)
        {
            var a = new Point(random.Next(size), random.Next(size / 3));
            var b = new Point(random.Next(size), size - 1 - random.Next(size / 3));
            Cv2.Line(image, a, b, new Scalar(level - 80), 3);
        }

        if (colour)
        {
            Cv2.CvtColor(image, image, ColorConversionCodes.GRAY2BGR);
        }

        return image;
    }
}
