using Inspection.Daemon.Results;
using OpenCvSharp;

namespace Inspection.Daemon.Inference;

/// <summary>Coverage and connected regions of a binary mask, with boxes scaled to the frame's pixels.</summary>
public static class MaskRegions
{
    public static SegmentationResult Summarise(Mat mask, int frameWidth, int frameHeight, int minArea)
    {
        using var labels = new Mat();
        using var stats = new Mat();
        using var centroids = new Mat();
        var count = Cv2.ConnectedComponentsWithStats(mask, labels, stats, centroids, PixelConnectivity.Connectivity8);
        var sx = (double)frameWidth / mask.Cols;
        var sy = (double)frameHeight / mask.Rows;
        var regions = new List<DefectRegion>();
        long kept = 0;
        for (var label = 1; label < count; label++)
        {
            var area = stats.At<int>(label, (int)ConnectedComponentsTypes.Area);
            if (area < minArea)
            {
                continue;
            }

            kept += area;
            regions.Add(new DefectRegion(
                (int)Math.Round(stats.At<int>(label, (int)ConnectedComponentsTypes.Left) * sx),
                (int)Math.Round(stats.At<int>(label, (int)ConnectedComponentsTypes.Top) * sy),
                (int)Math.Round(stats.At<int>(label, (int)ConnectedComponentsTypes.Width) * sx),
                (int)Math.Round(stats.At<int>(label, (int)ConnectedComponentsTypes.Height) * sy),
                (int)Math.Round(area * sx * sy)));
        }

        regions.Sort((a, b) => b.Area.CompareTo(a.Area));
        return new SegmentationResult(Math.Round((double)kept / ((long)mask.Rows * mask.Cols), 6), regions, null);
    }
}
