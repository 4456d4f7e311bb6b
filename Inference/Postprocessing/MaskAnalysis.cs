using OpenCvSharp;

namespace Inspection.Inference.Postprocessing;

/// <summary>One connected defect region of a segmentation map, in the map's pixel coordinates.</summary>
/// <param name="X">Left edge of the bounding box.</param>
/// <param name="Y">Top edge of the bounding box.</param>
/// <param name="Width">Bounding box width.</param>
/// <param name="Height">Bounding box height.</param>
/// <param name="Area">Number of foreground pixels in the region (not the box).</param>
/// <param name="MaxProbability">Highest pixel probability inside the region.</param>
public sealed record MaskRegion(int X, int Y, int Width, int Height, int Area, float MaxProbability);

/// <summary>What <see cref="MaskAnalyzer"/> found in one map.</summary>
/// <param name="Width">Map width in pixels.</param>
/// <param name="Height">Map height in pixels.</param>
/// <param name="Coverage">Fraction of the map covered by the kept regions (regions of at least the minimum area).</param>
/// <param name="ForegroundPixels">Pixels in the kept regions.</param>
/// <param name="DiscardedPixels">Pixels above the threshold that belonged to regions smaller than the minimum area.</param>
/// <param name="Regions">Kept regions, largest first.</param>
public sealed record MaskAnalysisResult(int Width, int Height, double Coverage, long ForegroundPixels, long DiscardedPixels, IReadOnlyList<MaskRegion> Regions)
{
    /// <summary>
    /// The same regions in the coordinates of an image of <paramref name="imageWidth"/> × <paramref name="imageHeight"/>
    /// that was stretched to the map's size (the <c>stretch</c> resize of the preprocessing). Boxes are scaled outward
    /// so they still cover the region; areas are scaled by the pixel area ratio. Coverage is unchanged.
    /// </summary>
    public MaskAnalysisResult ScaledTo(int imageWidth, int imageHeight)
    {
        if (imageWidth <= 0 || imageHeight <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(imageWidth), $"image size must be positive, got {imageWidth}x{imageHeight}");
        }

        var sx = (double)imageWidth / Width;
        var sy = (double)imageHeight / Height;
        var regions = Regions.Select(r =>
        {
            var x0 = (int)Math.Floor(r.X * sx);
            var y0 = (int)Math.Floor(r.Y * sy);
            var x1 = Math.Min(imageWidth, (int)Math.Ceiling((r.X + r.Width) * sx));
            var y1 = Math.Min(imageHeight, (int)Math.Ceiling((r.Y + r.Height) * sy));
            return r with { X = x0, Y = y0, Width = x1 - x0, Height = y1 - y0, Area = (int)Math.Round(r.Area * sx * sy) };
        }).ToList();
        return new MaskAnalysisResult(
            imageWidth,
            imageHeight,
            Coverage,
            (long)Math.Round(ForegroundPixels * sx * sy),
            (long)Math.Round(DiscardedPixels * sx * sy),
            regions);
    }
}

/// <summary>
/// Post-processing of a segmentation model's output, shared by the trainer (reports) and the daemon (results):
/// threshold the map, find 8-connected regions, drop regions smaller than a minimum area, and report each kept
/// region's bounding box and area plus the covered fraction. Reuses its native buffers between calls, so a daemon's
/// inference loop allocates nothing per frame once warm. Not thread-safe; use one per loop.
/// </summary>
public sealed class MaskAnalyzer : IDisposable
{
    private readonly Mat _binary = new();
    private readonly Mat _labels = new();
    private readonly Mat _stats = new();
    private readonly Mat _centroids = new();

    /// <summary>Analyses a map of probabilities in [0, 1] (row-major, <paramref name="width"/> × <paramref name="height"/>).</summary>
    /// <param name="probabilities">Per-pixel probabilities.</param>
    /// <param name="width">Map width.</param>
    /// <param name="height">Map height.</param>
    /// <param name="threshold">A pixel is foreground when its probability is at or above this.</param>
    /// <param name="minArea">Regions with fewer pixels are discarded (0 or 1 keeps everything).</param>
    /// <param name="maskOut">When given, receives an 8-bit single-channel mask: 255 on kept regions, 0 elsewhere.</param>
    public MaskAnalysisResult Analyze(ReadOnlySpan<float> probabilities, int width, int height, float threshold, int minArea, Mat? maskOut = null)
        => Run(probabilities, width, height, threshold, minArea, maskOut, logits: false);

    /// <summary>
    /// Analyses a map of logits (the raw output of a model whose output kind is <c>logit</c>). The probability
    /// <paramref name="threshold"/> is moved into logit space once instead of applying a sigmoid to every pixel.
    /// </summary>
    /// <param name="logits">Per-pixel logits.</param>
    /// <param name="width">Map width.</param>
    /// <param name="height">Map height.</param>
    /// <param name="threshold">Probability threshold in (0, 1).</param>
    /// <param name="minArea">Regions with fewer pixels are discarded.</param>
    /// <param name="maskOut">When given, receives an 8-bit single-channel mask: 255 on kept regions, 0 elsewhere.</param>
    public MaskAnalysisResult AnalyzeLogits(ReadOnlySpan<float> logits, int width, int height, float threshold, int minArea, Mat? maskOut = null)
        => Run(logits, width, height, threshold, minArea, maskOut, logits: true);

    private MaskAnalysisResult Run(ReadOnlySpan<float> values, int width, int height, float threshold, int minArea, Mat? maskOut, bool logits)
    {
        Check(values, width, height, threshold, logits);
        Binarize(values, width, height, logits ? MathF.Log(threshold / (1 - threshold)) : threshold);
        var count = Cv2.ConnectedComponentsWithStats(_binary, _labels, _stats, _centroids, PixelConnectivity.Connectivity8, MatType.CV_32S);

        // Label 0 is the background. Decide per label whether it is kept, then make one pass for masks and maxima.
        var (keep, kept, discarded) = KeepByArea(count, minArea);
        var maxValue = MaskAndMaxima(values, width, height, count, keep, maskOut);
        var regions = Regions(count, keep, maxValue, logits);
        return new MaskAnalysisResult(width, height, (double)kept / ((long)width * height), kept, discarded, regions);
    }

    private static void Check(ReadOnlySpan<float> values, int width, int height, float threshold, bool logits)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"map size must be positive, got {width}x{height}");
        }

        if (values.Length < width * height)
        {
            throw new ArgumentException($"map holds {values.Length} values, {width}x{height} needs {width * height}", nameof(values));
        }

        if (!float.IsFinite(threshold) || (logits && threshold is <= 0 or >= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), $"threshold must be a probability in (0, 1) for logits, got {threshold}");
        }
    }

    // 1 where the value reaches the cut, 0 elsewhere, into _binary.
    private unsafe void Binarize(ReadOnlySpan<float> values, int width, int height, float cut)
    {
        _binary.Create(height, width, MatType.CV_8UC1);
        for (var y = 0; y < height; y++)
        {
            var row = (byte*)_binary.Ptr(y);
            var source = values.Slice(y * width, width);
            for (var x = 0; x < width; x++)
            {
                row[x] = source[x] >= cut ? (byte)1 : (byte)0;
            }
        }
    }

    // Which labels have at least minArea pixels, and the pixels kept and discarded.
    private (bool[] Keep, long Kept, long Discarded) KeepByArea(int count, int minArea)
    {
        var keep = new bool[count];
        long kept = 0;
        long discarded = 0;
        for (var label = 1; label < count; label++)
        {
            var area = _stats.At<int>(label, (int)ConnectedComponentsTypes.Area);
            keep[label] = area >= minArea;
            if (keep[label])
            {
                kept += area;
            }
            else
            {
                discarded += area;
            }
        }

        return (keep, kept, discarded);
    }

    // One pass over the labels: the output mask of the kept regions (when asked for) and each label's highest value.
    private unsafe float[] MaskAndMaxima(ReadOnlySpan<float> values, int width, int height, int count, bool[] keep, Mat? maskOut)
    {
        var maxValue = new float[count];
        Array.Fill(maxValue, float.NegativeInfinity);
        maskOut?.Create(height, width, MatType.CV_8UC1);
        for (var y = 0; y < height; y++)
        {
            var labelRow = (int*)_labels.Ptr(y);
            var maskRow = maskOut is null ? null : (byte*)maskOut.Ptr(y);
            var source = values.Slice(y * width, width);
            for (var x = 0; x < width; x++)
            {
                var label = labelRow[x];
                if (maskRow is not null)
                {
                    maskRow[x] = keep[label] ? (byte)255 : (byte)0;
                }

                if (label != 0 && source[x] > maxValue[label])
                {
                    maxValue[label] = source[x];
                }
            }
        }

        return maxValue;
    }

    // The kept regions, largest first (then top to bottom, left to right), with their peak probability.
    private List<MaskRegion> Regions(int count, bool[] keep, float[] maxValue, bool logits)
    {
        var regions = new List<MaskRegion>();
        for (var label = 1; label < count; label++)
        {
            if (!keep[label])
            {
                continue;
            }

            var max = logits ? 1f / (1f + MathF.Exp(-maxValue[label])) : maxValue[label];
            regions.Add(new MaskRegion(
                _stats.At<int>(label, (int)ConnectedComponentsTypes.Left),
                _stats.At<int>(label, (int)ConnectedComponentsTypes.Top),
                _stats.At<int>(label, (int)ConnectedComponentsTypes.Width),
                _stats.At<int>(label, (int)ConnectedComponentsTypes.Height),
                _stats.At<int>(label, (int)ConnectedComponentsTypes.Area),
                max));
        }

        regions.Sort((a, b) => b.Area != a.Area ? b.Area.CompareTo(a.Area) : (a.Y, a.X).CompareTo((b.Y, b.X)));
        return regions;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _binary.Dispose();
        _labels.Dispose();
        _stats.Dispose();
        _centroids.Dispose();
    }
}

/// <summary>One-off mask analysis for callers that do not keep a <see cref="MaskAnalyzer"/> around.</summary>
internal static class MaskAnalysis
{
    /// <summary>Analyses a probability map; see <see cref="MaskAnalyzer.Analyze"/>.</summary>
    /// <param name="probabilities">Per-pixel probabilities, row-major.</param>
    /// <param name="width">Map width.</param>
    /// <param name="height">Map height.</param>
    /// <param name="threshold">A pixel is foreground when its probability is at or above this.</param>
    /// <param name="minArea">Regions with fewer pixels are discarded.</param>
    /// <param name="maskOut">When given, receives an 8-bit mask of the kept regions (255/0).</param>
    public static MaskAnalysisResult Analyze(ReadOnlySpan<float> probabilities, int width, int height, float threshold, int minArea, Mat? maskOut = null)
    {
        using var analyzer = new MaskAnalyzer();
        return analyzer.Analyze(probabilities, width, height, threshold, minArea, maskOut);
    }

    /// <summary>Analyses a logit map; see <see cref="MaskAnalyzer.AnalyzeLogits"/>.</summary>
    /// <param name="logits">Per-pixel logits, row-major.</param>
    /// <param name="width">Map width.</param>
    /// <param name="height">Map height.</param>
    /// <param name="threshold">Probability threshold in (0, 1).</param>
    /// <param name="minArea">Regions with fewer pixels are discarded.</param>
    /// <param name="maskOut">When given, receives an 8-bit mask of the kept regions (255/0).</param>
    public static MaskAnalysisResult AnalyzeLogits(ReadOnlySpan<float> logits, int width, int height, float threshold, int minArea, Mat? maskOut = null)
    {
        using var analyzer = new MaskAnalyzer();
        return analyzer.AnalyzeLogits(logits, width, height, threshold, minArea, maskOut);
    }
}
