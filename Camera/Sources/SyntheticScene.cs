using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>The kind of defect drawn into a synthetic frame.</summary>
public enum SyntheticDefectKind
{
    /// <summary>A clean frame.</summary>
    None,

    /// <summary>A dark line, like a scratch or a cell crack.</summary>
    Scratch,

    /// <summary>A bright ellipse, like a hot spot or a splash.</summary>
    Blob,
}

/// <summary>What was drawn into a synthetic frame: the ground truth a model should find.</summary>
/// <param name="Kind">Defect kind, <see cref="SyntheticDefectKind.None"/> for a clean frame.</param>
/// <param name="Bounds">Bounding box of the defect's mask pixels (empty for a clean frame).</param>
/// <param name="Area">Number of defect pixels in the mask.</param>
public sealed record SyntheticDefect(SyntheticDefectKind Kind, Rect Bounds, int Area)
{
    /// <summary>True when the frame carries a defect.</summary>
    public bool IsDefect => Kind != SyntheticDefectKind.None;
}

/// <summary>
/// Generates frames with known content: a textured grey surface (a lit panel or sheet) on which a fraction of frames
/// carry one drawn defect — a dark scratch or a bright blob — together with its exact mask. The same seed and frame
/// number always give the same pixels, so tests and demo training sets are reproducible.
/// </summary>
public static class SyntheticScene
{
    /// <summary>Grey level of the defect-free surface, before texture and lighting (±20).</summary>
    public const int SurfaceGrey = 128;

    /// <summary>Grey level of a scratch (dark).</summary>
    public const int ScratchGrey = 25;

    /// <summary>Grey level of a blob (bright).</summary>
    public const int BlobGrey = 235;

    /// <summary>
    /// Renders frame <paramref name="frameNumber"/> of the scene given by <paramref name="seed"/>. Whether the frame has a
    /// defect is drawn with probability <paramref name="defectRate"/> from the seed and frame number.
    /// </summary>
    /// <param name="image">Receives an 8-bit BGR image of <paramref name="width"/> × <paramref name="height"/>.</param>
    /// <param name="mask">Receives an 8-bit single-channel mask: 255 on defect pixels, 0 elsewhere.</param>
    /// <param name="width">Image width in pixels (at least 32).</param>
    /// <param name="height">Image height in pixels (at least 32).</param>
    /// <param name="seed">Scene seed.</param>
    /// <param name="frameNumber">Frame number (any value; the source counts from 1).</param>
    /// <param name="defectRate">Probability in [0, 1] that the frame carries a defect.</param>
    /// <returns>What was drawn.</returns>
    public static SyntheticDefect Render(Mat image, Mat mask, int width, int height, int seed, long frameNumber, double defectRate)
    {
        if (width < 32 || height < 32)
        {
            throw new ArgumentException($"synthetic frames need at least 32×32 pixels, got {width}×{height}");
        }

        var random = new Random(StableSeed.Combine(seed, frameNumber));
        DrawSurface(image, width, height, random);
        mask.Create(height, width, MatType.CV_8UC1);
        mask.SetTo(Scalar.All(0));

        if (random.NextDouble() >= defectRate)
        {
            return new SyntheticDefect(SyntheticDefectKind.None, default, 0);
        }

        var kind = random.Next(2) == 0 ? SyntheticDefectKind.Scratch : SyntheticDefectKind.Blob;
        var side = Math.Min(width, height);
        if (kind == SyntheticDefectKind.Scratch)
        {
            var length = side * (0.2 + (0.3 * random.NextDouble()));
            var angle = random.NextDouble() * Math.PI;
            var centre = new Point(random.Next(width / 4, width * 3 / 4), random.Next(height / 4, height * 3 / 4));
            var dx = (int)(Math.Cos(angle) * length / 2);
            var dy = (int)(Math.Sin(angle) * length / 2);
            var thickness = Math.Max(2, side / 60);
            var a = new Point(centre.X - dx, centre.Y - dy);
            var b = new Point(centre.X + dx, centre.Y + dy);
            Cv2.Line(image, a, b, Scalar.All(ScratchGrey), thickness, LineTypes.Link8);
            Cv2.Line(mask, a, b, Scalar.All(255), thickness, LineTypes.Link8);
        }
        else
        {
            var axes = new Size(Math.Max(3, (int)(side * (0.03 + (0.05 * random.NextDouble())))), Math.Max(3, (int)(side * (0.03 + (0.05 * random.NextDouble())))));
            var centre = new Point(random.Next(width / 5, width * 4 / 5), random.Next(height / 5, height * 4 / 5));
            var angle = random.NextDouble() * 180;
            Cv2.Ellipse(image, centre, axes, angle, 0, 360, Scalar.All(BlobGrey), -1, LineTypes.Link8);
            Cv2.Ellipse(mask, centre, axes, angle, 0, 360, Scalar.All(255), -1, LineTypes.Link8);
        }

        return new SyntheticDefect(kind, Cv2.BoundingRect(mask), Cv2.CountNonZero(mask));
    }

    /// <summary>Renders one frame into new Mats; the caller disposes both.</summary>
    /// <returns>The BGR image, its defect mask (255 = defect) and what was drawn.</returns>
    public static (Mat Image, Mat Mask, SyntheticDefect Defect) Render(int width, int height, int seed, long frameNumber, double defectRate)
    {
        var image = new Mat();
        var mask = new Mat();
        try
        {
            var defect = Render(image, mask, width, height, seed, frameNumber, defectRate);
            return (image, mask, defect);
        }
        catch
        {
            image.Dispose();
            mask.Dispose();
            throw;
        }
    }

    // Texture: per-frame lighting level, a soft horizontal gradient and mild grain (±6), so a model cannot key on a flat
    // background, while defects stay far outside the background's range.
    private static void DrawSurface(Mat image, int width, int height, Random random)
    {
        var level = SurfaceGrey + random.Next(-12, 13);
        // Drawn straight into the Mat: a frame costs no managed buffer.
        using var grey = new Mat(height, width, MatType.CV_8UC1);
        var pixels = grey.AsSpan<byte>();
        random.NextBytes(pixels);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var gradient = 8.0 * Math.Sin((x + (y * 0.5)) * Math.PI / width);
                var i = (y * width) + x;
                pixels[i] = (byte)Math.Clamp(level + (int)gradient + ((pixels[i] % 13) - 6), 0, 255);
            }
        }

        Cv2.CvtColor(grey, image, ColorConversionCodes.GRAY2BGR);
    }
}
