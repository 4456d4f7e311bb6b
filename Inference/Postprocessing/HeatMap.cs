using Inspection.Config.Models;
using Inspection.Inference.Preprocessing;
using OpenCvSharp;

namespace Inspection.Inference.Postprocessing;

/// <summary>
/// A classifier's class activation map drawn over the image it was computed for: each position's logit through the
/// sigmoid (0 blue … 0.5 green … 1 red, OpenCV's JET colour map: where the head saw a defect), up-sampled bilinearly to
/// the model input, cut to the image's part of it when the input is letterboxed, stretched to the image and blended
/// 40% over it. The daemon's snapshots and <c>trainer eval --explain</c> draw it with this one function.
/// </summary>
public static class HeatMap
{
    private const double Opacity = 0.4;

    /// <summary>The BGR overlay (the caller disposes it) of <paramref name="cam"/> (h×w logits, row-major) on <paramref name="image"/> (grey or BGR).</summary>
    public static Mat Overlay(Mat image, ReadOnlySpan<float> cam, int camWidth, int camHeight, InputSpec input)
    {
        if (cam.Length != camWidth * camHeight)
        {
            throw new ArgumentException($"class activation map has {cam.Length} values, not {camWidth}x{camHeight}", nameof(cam));
        }

        var bytes = new byte[cam.Length];
        for (var i = 0; i < cam.Length; i++)
        {
            bytes[i] = (byte)Math.Round(255 / (1 + Math.Exp(-cam[i])));
        }

        using var map = Mat.FromPixelData(camHeight, camWidth, MatType.CV_8UC1, bytes);
        using var atInput = new Mat();
        Cv2.Resize(map, atInput, new Size(input.Width, input.Height), 0, 0, InterpolationFlags.Linear);
        using var content = input.Resize == "letterbox" ? new Mat(atInput, Preprocessor.LetterboxContent(image.Cols, image.Rows, input)) : atInput.Clone();
        using var atImage = new Mat();
        Cv2.Resize(content, atImage, new Size(image.Cols, image.Rows), 0, 0, InterpolationFlags.Linear);
        using var heat = new Mat();
        Cv2.ApplyColorMap(atImage, heat, ColormapTypes.Jet);
        using var colour = new Mat();
        if (image.Channels() == 1)
        {
            Cv2.CvtColor(image, colour, ColorConversionCodes.GRAY2BGR);
        }
        else
        {
            image.CopyTo(colour);
        }

        var overlay = new Mat();
        Cv2.AddWeighted(colour, 1 - Opacity, heat, Opacity, 0, overlay);
        return overlay;
    }
}
