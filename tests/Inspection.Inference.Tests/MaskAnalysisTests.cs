using Inspection.Inference.Postprocessing;
using OpenCvSharp;

namespace Inspection.Inference.Tests;

public sealed class MaskAnalysisTests
{
    private const int Width = 64;
    private const int Height = 48;

    // Probability map with shapes drawn at 0.9 on a 0.1 background.
    private static float[] Draw(Action<Mat> paint)
    {
        using var canvas = new Mat(Height, Width, MatType.CV_32FC1, Scalar.All(0.1));
        paint(canvas);
        canvas.GetArray(out float[] values);
        return values;
    }

    [Fact]
    public void Rectangles_become_regions_with_exact_boxes_areas_and_coverage()
    {
        var map = Draw(m =>
        {
            Cv2.Rectangle(m, new Rect(2, 3, 10, 5), Scalar.All(0.9), -1);
            Cv2.Rectangle(m, new Rect(30, 20, 20, 15), Scalar.All(0.8), -1);
        });

        var result = MaskAnalysis.Analyze(map, Width, Height, threshold: 0.5f, minArea: 1);

        Assert.Equal(2, result.Regions.Count);
        Assert.Equal(new MaskRegion(30, 20, 20, 15, 300, 0.8f), result.Regions[0]);
        Assert.Equal(new MaskRegion(2, 3, 10, 5, 50, 0.9f), result.Regions[1]);
        Assert.Equal(350, result.ForegroundPixels);
        Assert.Equal(350.0 / (Width * Height), result.Coverage, 9);
    }

    [Fact]
    public void Regions_below_the_minimum_area_are_dropped_from_regions_coverage_and_mask()
    {
        var map = Draw(m =>
        {
            Cv2.Circle(m, new Point(20, 20), 8, Scalar.All(0.95), -1);
            Cv2.Rectangle(m, new Rect(50, 5, 3, 3), Scalar.All(0.95), -1);
        });
        using var mask = new Mat();

        var result = MaskAnalysis.Analyze(map, Width, Height, 0.5f, minArea: 16, mask);

        var region = Assert.Single(result.Regions);
        Assert.Equal((12, 12, 17, 17), (region.X, region.Y, region.Width, region.Height));
        Assert.Equal(9, result.DiscardedPixels);
        Assert.Equal(region.Area, result.ForegroundPixels);
        Assert.Equal(region.Area, Cv2.CountNonZero(mask));
        Assert.Equal(0, mask.At<byte>(6, 51));
        Assert.Equal(255, mask.At<byte>(20, 20));
        Assert.Equal(MatType.CV_8UC1, mask.Type());
    }

    [Fact]
    public void Diagonal_neighbours_join_one_region_and_the_threshold_is_inclusive()
    {
        var map = new float[Width * Height];
        map[(10 * Width) + 10] = 0.5f;
        map[(11 * Width) + 11] = 0.7f;
        map[(12 * Width) + 12] = 0.49f;

        var result = MaskAnalysis.Analyze(map, Width, Height, 0.5f, minArea: 0);

        var region = Assert.Single(result.Regions);
        Assert.Equal(new MaskRegion(10, 10, 2, 2, 2, 0.7f), region);
    }

    [Fact]
    public void Logit_maps_give_the_same_regions_as_their_probabilities()
    {
        var probabilities = Draw(m =>
        {
            Cv2.Ellipse(m, new Point(40, 24), new Size(12, 6), 30, 0, 360, Scalar.All(0.62), -1);
            Cv2.Line(m, new Point(2, 40), new Point(25, 30), Scalar.All(0.58), 2);
        });
        var logits = probabilities.Select(p => MathF.Log(p / (1 - p))).ToArray();

        var fromProbabilities = MaskAnalysis.Analyze(probabilities, Width, Height, 0.6f, 4);
        var fromLogits = MaskAnalysis.AnalyzeLogits(logits, Width, Height, 0.6f, 4);

        var region = Assert.Single(fromLogits.Regions);
        Assert.Equal(fromProbabilities.Regions[0] with { MaxProbability = 0 }, region with { MaxProbability = 0 });
        Assert.Equal(0.62f, region.MaxProbability, 4);
        Assert.Equal(fromProbabilities.Coverage, fromLogits.Coverage);
    }

    [Fact]
    public void An_empty_map_has_no_regions_and_zero_coverage()
    {
        using var mask = new Mat();

        var result = MaskAnalysis.Analyze(new float[Width * Height], Width, Height, 0.5f, 1, mask);

        Assert.Empty(result.Regions);
        Assert.Equal(0, result.Coverage);
        Assert.Equal(0, Cv2.CountNonZero(mask));
    }

    [Fact]
    public void A_reused_analyzer_forgets_the_previous_map()
    {
        using var analyzer = new MaskAnalyzer();
        var first = Draw(m => Cv2.Rectangle(m, new Rect(0, 0, 30, 30), Scalar.All(1), -1));
        var second = Draw(m => Cv2.Rectangle(m, new Rect(40, 40, 4, 4), Scalar.All(1), -1));

        analyzer.Analyze(first, Width, Height, 0.5f, 1);
        var result = analyzer.Analyze(second, Width, Height, 0.5f, 1);

        Assert.Equal(new MaskRegion(40, 40, 4, 4, 16, 1f), Assert.Single(result.Regions));
    }

    [Fact]
    public void Regions_scale_to_the_original_image_size()
    {
        var map = Draw(m => Cv2.Rectangle(m, new Rect(8, 6, 16, 12), Scalar.All(0.9), -1));

        var scaled = MaskAnalysis.Analyze(map, Width, Height, 0.5f, 1).ScaledTo(640, 480);

        Assert.Equal(new MaskRegion(80, 60, 160, 120, 19200, 0.9f), Assert.Single(scaled.Regions));
        Assert.Equal(19200, scaled.ForegroundPixels);
        Assert.Equal((640, 480), (scaled.Width, scaled.Height));
    }

    [Fact]
    public void A_map_shorter_than_its_size_is_refused_with_the_sizes()
    {
        var error = Assert.Throws<ArgumentException>(() => MaskAnalysis.Analyze(new float[10], 4, 4, 0.5f, 1));

        Assert.Contains("4x4 needs 16", error.Message, StringComparison.Ordinal);
    }
}
