using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Capture;

/// <summary>The camera's region of interest (<c>Roi</c>): cuts it out of each frame, or the part of it inside the frame
/// (warned once); the whole frame when unset or wholly outside. Called from the reader thread only.</summary>
internal sealed partial class RoiCrop(string cameraId, RoiOptions roi, ILogger logger)
{
    private bool _warned;

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "Apply takes ownership of the image and returns the one to keep.")]
    public Mat Apply(Mat image)
    {
        if (!roi.IsSet)
        {
            return image;
        }

        var wanted = new Rect(roi.X, roi.Y, roi.Width, roi.Height);
        var inside = wanted & new Rect(0, 0, image.Cols, image.Rows);
        if (inside != wanted && !_warned)
        {
            _warned = true;
            object used = inside.Width > 0 && inside.Height > 0 ? inside : "the whole frame";
            LogRoiOutside(logger, cameraId, wanted, image.Cols, image.Rows, used);
        }

        if (inside.Width <= 0 || inside.Height <= 0)
        {
            return image;
        }

        using (image)
        using (var view = new Mat(image, inside))
        {
            return view.Clone();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "camera {Camera}: ROI {Roi} does not fit the {Width}x{Height} frame; using {Inside}")]
    private static partial void LogRoiOutside(ILogger logger, string camera, Rect roi, int width, int height, object inside);
}
