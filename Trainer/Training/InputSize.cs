using Inspection.Trainer.Datasets.Classification;

namespace Inspection.Trainer.Training;

/// <summary>
/// The input size chosen from the data when none is given: the training images' median width and height, scaled down
/// (never up) so the longer side is at most <see cref="MaxSide"/>, each side rounded to the network's size multiple.
/// The aspect ratio is kept, and images of other shapes are letterboxed into it, so a 600×200 part becomes 320×96
/// (letterboxed), not a squashed square: small defects keep their pixels.
/// </summary>
internal static class InputSize
{
    /// <summary>Longest side chosen: a ResNet-18 training step at 320×320 costs about twice one at 224×224.</summary>
    public const int MaxSide = 320;

    /// <summary>Width and height for images of median size <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static (int Width, int Height) For(int width, int height, int multiple, int maxSide = MaxSide)
    {
        var scale = Math.Min(1.0, (double)maxSide / Math.Max(width, height));
        int Round(double side) => Math.Max(multiple, (int)Math.Round(side * scale / multiple) * multiple);
        return (Round(width), Round(height));
    }

    /// <summary>The median size of up to 64 evenly picked images.</summary>
    public static (int Width, int Height) Median(IReadOnlyList<LabelledImage> images)
    {
        var count = Math.Min(64, images.Count);
        var sizes = Enumerable.Range(0, count).Select(i =>
        {
            using var mat = ClassificationDataset.Read(images[i * images.Count / count].Path);
            return (mat.Width, mat.Height);
        }).ToList();
        return (sizes.Select(s => s.Width).Order().ElementAt(count / 2), sizes.Select(s => s.Height).Order().ElementAt(count / 2));
    }
}
