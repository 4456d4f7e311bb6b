using Inspection.Camera;
using OpenCvSharp;

namespace Inspection.Trainer.Tests.Segmentation;

/// <summary>
/// Synthetic aerial-like scenes for segmentation tests: textured ground (noise and soft patches) with solar panels
/// drawn as bright or dark rectangles, each with a faint cell grid, and the exact panel mask.
/// </summary>
public static class AerialScenes
{
    /// <summary>Renders scene <paramref name="index"/>: an 8-bit BGR image and a 0/255 mask of the panels.</summary>
    public static (Mat Image, Mat Mask) Render(int size, int index, int seed = 1)
    {
        var random = new Random(StableSeed.Combine(seed, index));
        var image = new Mat(size, size, MatType.CV_8UC3);
        var mask = new Mat(size, size, MatType.CV_8UC1, Scalar.All(0));

        // Ground: brownish-green base, large soft patches, fine noise.
        var ground = new Scalar(60 + random.Next(40), 90 + random.Next(40), 90 + random.Next(40));
        image.SetTo(ground);
        for (var i = 0; i < 6; i++)
        {
            var centre = new Point(random.Next(size), random.Next(size));
            var shade = new Scalar(ground.Val0 + random.Next(-25, 25), ground.Val1 + random.Next(-25, 25), ground.Val2 + random.Next(-25, 25));
            Cv2.Circle(image, centre, random.Next(size / 8, size / 3), shade, -1);
        }

        Cv2.GaussianBlur(image, image, new Size(0, 0), size / 32.0);
        using (var noise = new Mat(size, size, MatType.CV_8UC3))
        {
            Cv2.Randu(noise, Scalar.All(0), Scalar.All(24));
            Cv2.Add(image, noise, image);
        }

        // Panels: 1–3 axis-aligned rectangles, bright (reflecting) or dark (blue-black).
        var panels = random.Next(1, 4);
        for (var p = 0; p < panels; p++)
        {
            var w = random.Next(size / 8, size / 3);
            var h = random.Next(size / 10, size / 4);
            var rect = new Rect(random.Next(0, size - w), random.Next(0, size - h), w, h);
            var bright = random.Next(2) == 0;
            var colour = bright ? new Scalar(215, 210, 205) : new Scalar(70, 35, 25);
            Cv2.Rectangle(image, rect, colour, -1);
            var grid = bright ? new Scalar(180, 175, 170) : new Scalar(95, 60, 45);
            for (var x = rect.X + 6; x < rect.Right - 1; x += 6)
            {
                Cv2.Line(image, new Point(x, rect.Y), new Point(x, rect.Bottom - 1), grid, 1);
            }

            Cv2.Rectangle(mask, rect, Scalar.All(255), -1);
        }

        return (image, mask);
    }

    /// <summary>
    /// Writes <paramref name="count"/> scenes in the PV dataset's layout, <c>scene-N.bmp</c> + <c>scene-N_label.bmp</c>
    /// with the panel class code 211 as foreground.
    /// </summary>
    public static void WriteDataset(string directory, int count, int size, int seed = 1)
    {
        Directory.CreateDirectory(directory);
        for (var i = 0; i < count; i++)
        {
            var (image, mask) = Render(size, i, seed);
            using (image)
            using (mask)
            {
                Cv2.ImWrite(Path.Combine(directory, $"scene-{i:D3}.bmp"), image);
                using var coded = new Mat();
                Cv2.Threshold(mask, coded, 0, 211, ThresholdTypes.Binary);
                Cv2.ImWrite(Path.Combine(directory, $"scene-{i:D3}_label.bmp"), coded);
            }
        }
    }
}
