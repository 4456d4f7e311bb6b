using Inspection.Camera.Preprocessing;
using OpenCvSharp;

namespace Inspection.Trainer.Datasets.Segmentation;

/// <summary>Reads segmentation masks as binary 0/1 images.</summary>
internal static class MaskFiles
{
    /// <summary>
    /// Reads a mask: a pixel is foreground (1) when its value is above <paramref name="threshold"/> (default 0: any
    /// non-zero value, as class-coded masks such as NEU-Seg's 1–3 or the PV dataset's 211–213 need). Grey masks saved
    /// as RGB are accepted when their channels agree; a real colour mask is refused, naming the file.
    /// </summary>
    /// <returns>An 8-bit single-channel Mat with values 0 and 1; the caller disposes it.</returns>
    public static Mat ReadBinary(string path, double threshold = 0)
    {
        Mat raw;
        try
        {
            raw = ImageFiles.Read(path);
        }
        catch (ImageReadException ex)
        {
            throw new DatasetException(ex.Message);
        }

        using (raw)
        {
            using var grey = SingleChannel(raw, path);
            using var values = new Mat();
            grey.ConvertTo(values, MatType.CV_32FC1);
            using var above = new Mat();
            Cv2.Threshold(values, above, threshold, 1, ThresholdTypes.Binary);
            var binary = new Mat();
            above.ConvertTo(binary, MatType.CV_8UC1);
            return binary;
        }
    }

    private static Mat SingleChannel(Mat raw, string path)
    {
        var channels = raw.Channels();
        if (channels == 1)
        {
            return raw.Clone();
        }

        var planes = raw.Split();
        try
        {
            // Alpha (a 4th plane) says nothing about the class; colour planes must agree.
            for (var c = 1; c < Math.Min(channels, 3); c++)
            {
                using var difference = new Mat();
                Cv2.Absdiff(planes[0], planes[c], difference);
                if (Cv2.CountNonZero(difference) > 0)
                {
                    throw new DatasetException(
                        $"{path}: colour mask ({channels} channels that differ); masks must be single-channel (grey) images, 0 = background");
                }
            }

            return planes[0].Clone();
        }
        finally
        {
            foreach (var plane in planes)
            {
                plane.Dispose();
            }
        }
    }
}
