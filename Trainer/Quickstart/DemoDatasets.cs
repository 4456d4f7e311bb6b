using Inspection.Camera.Sources;
using OpenCvSharp;

namespace Inspection.Trainer.Quickstart;

/// <summary>
/// Training data for the demo models, drawn by Camera's <see cref="SyntheticScene"/> — the same generator as the
/// demo camera (<c>synthetic://</c>), with another seed, so the demo models have never seen the frames they judge.
/// </summary>
internal static class DemoDatasets
{
    /// <summary>Writes <c>good/</c> and <c>defect/</c> folders of PNG frames; returns (good, defect) counts.</summary>
    public static (int Good, int Defect) WriteClassification(string directory, int count, int width, int height, int seed)
    {
        var good = Path.Combine(directory, "good");
        var defect = Path.Combine(directory, "defect");
        Directory.CreateDirectory(good);
        Directory.CreateDirectory(defect);
        int goodCount = 0, defectCount = 0;
        for (var i = 1; i <= count; i++)
        {
            var (image, mask, drawn) = SyntheticScene.Render(width, height, seed, i, defectRate: 0.5);
            using (image)
            using (mask)
            {
                Cv2.ImWrite(Path.Combine(drawn.IsDefect ? defect : good, $"frame-{i:D4}.png"), image);
                _ = drawn.IsDefect ? defectCount++ : goodCount++;
            }
        }

        return (goodCount, defectCount);
    }

    /// <summary>Writes <c>images/</c> + <c>masks/</c> with the frames' exact defect masks (mostly frames with a defect).</summary>
    public static void WriteSegmentation(string directory, int count, int width, int height, int seed)
    {
        var images = Path.Combine(directory, "images");
        var masks = Path.Combine(directory, "masks");
        Directory.CreateDirectory(images);
        Directory.CreateDirectory(masks);
        for (var i = 1; i <= count; i++)
        {
            var (image, mask, _) = SyntheticScene.Render(width, height, seed, i, defectRate: 0.85);
            using (image)
            using (mask)
            {
                Cv2.ImWrite(Path.Combine(images, $"frame-{i:D4}.png"), image);
                Cv2.ImWrite(Path.Combine(masks, $"frame-{i:D4}.png"), mask);
            }
        }
    }
}
