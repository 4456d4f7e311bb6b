using Inspection.Config.Options;
using OpenCvSharp;

namespace Inspection.Daemon.Tampering;

/// <summary>What one check measured on a frame (downscaled grey).</summary>
internal readonly record struct TamperMeasure(double Brightness, double Contrast, double Sharpness, double Similarity);

/// <summary>One camera's tampering check. The reference (mean brightness, contrast, sharpness and a small blurred
/// picture of the scene) is the average of the first <see cref="TamperingOptions.ReferenceFrames"/> checks and is then
/// refreshed slowly from normal checks only, so lighting drift is followed but a tampered view never becomes normal.
/// An alarm needs <see cref="TamperingOptions.Confirm"/> abnormal checks in a row, and ends after as many normal ones.</summary>
internal sealed class TamperDetector(TamperingOptions options) : IDisposable
{
    public const string Covered = "covered";
    public const string Defocused = "defocused";
    public const string Moved = "moved";
    private static readonly Size Work = new(160, 120);
    private static readonly Size Scene = new(32, 24);
    private readonly Mat _referenceScene = new();
    private int _seen;
    private double _brightness;
    private double _contrast;
    private double _sharpness;
    private string? _pending;
    private int _streak;

    /// <summary>The active alarm, or null.</summary>
    public string? Alarm { get; private set; }

    public TamperMeasure Last { get; private set; }

    /// <summary>Checks one frame; returns true when <see cref="Alarm"/> changed.</summary>
    public bool Check(Mat frame)
    {
        using var grey = new Mat();
        using var small = new Mat();
        if (frame.Channels() == 1)
        {
            Cv2.Resize(frame, small, Work, 0, 0, InterpolationFlags.Area);
        }
        else
        {
            Cv2.CvtColor(frame, grey, frame.Channels() == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY);
            Cv2.Resize(grey, small, Work, 0, 0, InterpolationFlags.Area);
        }

        Cv2.MeanStdDev(small, out var mean, out var std);
        using var laplacian = new Mat();
        Cv2.Laplacian(small, laplacian, MatType.CV_64F);
        Cv2.MeanStdDev(laplacian, out _, out var lapStd);
        using var scene = new Mat();
        using var sceneF = new Mat();
        Cv2.Resize(small, scene, Scene, 0, 0, InterpolationFlags.Area);
        scene.ConvertTo(sceneF, MatType.CV_32F);

        var similarity = _seen == 0 ? 1 : Similarity(sceneF, _referenceScene);
        Last = new TamperMeasure(mean.Val0, std.Val0, lapStd.Val0 * lapStd.Val0, similarity);
        if (_seen < options.ReferenceFrames)
        {
            Learn(sceneF, 1.0 / (_seen + 1));
            _seen++;
            return false;
        }

        var kind = Classify(Last);
        if (kind is null && Alarm is null)
        {
            Learn(sceneF, options.RefreshRate);
        }

        return Confirm(kind);
    }

    private string? Classify(TamperMeasure m)
    {
        if (m.Contrast < options.ContrastDrop * _contrast || Math.Abs(m.Brightness - _brightness) > options.BrightnessShift)
        {
            return Covered;
        }

        if (m.Sharpness < options.SharpnessDrop * _sharpness)
        {
            return Defocused;
        }

        return m.Similarity < options.MinSimilarity ? Moved : null;
    }

    private bool Confirm(string? kind)
    {
        if (kind == Alarm)
        {
            _pending = null;
            _streak = 0;
            return false;
        }

        _streak = kind == _pending ? _streak + 1 : 1;
        _pending = kind;
        if (_streak < options.Confirm)
        {
            return false;
        }

        Alarm = kind;
        _pending = null;
        _streak = 0;
        return true;
    }

    private void Learn(Mat scene, double weight)
    {
        var m = Last;
        _brightness += weight * (m.Brightness - _brightness);
        _contrast += weight * (m.Contrast - _contrast);
        _sharpness += weight * (m.Sharpness - _sharpness);
        if (_referenceScene.Empty())
        {
            scene.CopyTo(_referenceScene);
        }
        else
        {
            using var everywhere = new Mat();
            Cv2.AccumulateWeighted(scene, _referenceScene, weight, everywhere);
        }
    }

    // Normalised cross-correlation of the small scene pictures: 1 = same layout, ~0 = unrelated.
    private static double Similarity(Mat a, Mat b)
    {
        using var result = new Mat();
        Cv2.MatchTemplate(a, b, result, TemplateMatchModes.CCoeffNormed);
        var value = result.At<float>(0, 0);
        return float.IsFinite(value) ? value : 0;
    }

    public void Dispose() => _referenceScene.Dispose();
}
