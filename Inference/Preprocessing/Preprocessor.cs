using Inspection.Config.Models;
using OpenCvSharp;

namespace Inspection.Inference.Preprocessing;

/// <summary>
/// Turns an image into the NCHW float tensor a model's <see cref="InputSpec"/> describes: colour conversion, resize,
/// scale to [0, 1], then (x - mean) / std per channel. The trainer and the daemon both use this, so a model sees the
/// same numbers in production as in training. Intermediate Mats are reused: no per-frame native allocations once warm.
/// Not thread-safe; use one per inference loop.
/// </summary>
public sealed class Preprocessor : IDisposable
{
    private readonly InputSpec _spec;
    private readonly Mat _converted = new();
    private readonly Mat _resized = new();
    private readonly Mat _float = new();
    private readonly Mat _canvas;
    private readonly float[] _scale;
    private readonly float[] _offset;

    /// <summary>Creates a preprocessor for one input spec.</summary>
    public Preprocessor(InputSpec spec)
    {
        if (spec.Channels is not (1 or 3))
        {
            throw new ArgumentException($"input spec needs 1 or 3 channels, got {spec.Channels}", nameof(spec));
        }

        if (spec.Resize is not ("stretch" or "letterbox"))
        {
            throw new ArgumentException($"input spec resize must be 'stretch' or 'letterbox', got '{spec.Resize}'", nameof(spec));
        }

        _spec = spec;
        _canvas = new Mat(spec.Height, spec.Width, spec.Channels == 1 ? MatType.CV_8UC1 : MatType.CV_8UC3, Scalar.All(0));

        // (p/255 - mean)/std == p * scale + offset, folded once.
        _scale = new float[spec.Channels];
        _offset = new float[spec.Channels];
        for (var c = 0; c < spec.Channels; c++)
        {
            _scale[c] = 1f / (255f * spec.Std[c]);
            _offset[c] = -spec.Mean[c] / spec.Std[c];
        }
    }

    /// <summary>The spec this preprocessor follows.</summary>
    public InputSpec Spec => _spec;

    /// <summary>Floats in one image's tensor: channels × height × width.</summary>
    public int TensorLength => _spec.Channels * _spec.Height * _spec.Width;

    /// <summary>Writes the tensor for <paramref name="image"/> into <paramref name="destination"/> (length <see cref="TensorLength"/>).</summary>
    /// <param name="image">8-bit or 16-bit image with 1, 3 or 4 channels (OpenCV's BGR order).</param>
    /// <param name="destination">CHW floats for one image.</param>
    public void Run(Mat image, Span<float> destination)
    {
        if (destination.Length < TensorLength)
        {
            throw new ArgumentException($"destination holds {destination.Length} floats, the tensor needs {TensorLength}", nameof(destination));
        }

        if (image.Empty())
        {
            throw new ArgumentException("image is empty", nameof(image));
        }

        var eight = To8Bit(image);
        ConvertColour(eight);
        Resize();
        WritePlanes(destination);
    }

    private Mat To8Bit(Mat image)
    {
        var depth = image.Depth();
        if (depth == MatType.CV_8U)
        {
            return image;
        }

        if (depth == MatType.CV_16U)
        {
            image.ConvertTo(_float, MatType.MakeType(MatType.CV_8U, image.Channels()), 1.0 / 257.0);
            return _float;
        }

        throw new ArgumentException($"unsupported pixel depth {image.Type()} (expected 8-bit or 16-bit)", nameof(image));
    }

    private void ConvertColour(Mat eight)
    {
        var channels = eight.Channels();
        ColorConversionCodes? code = (_spec.Channels, channels) switch
        {
            (1, 1) => null,
            (1, 3) => ColorConversionCodes.BGR2GRAY,
            (1, 4) => ColorConversionCodes.BGRA2GRAY,
            (3, 1) => ColorConversionCodes.GRAY2RGB,
            (3, 3) => ColorConversionCodes.BGR2RGB,
            (3, 4) => ColorConversionCodes.BGRA2RGB,
            _ => throw new ArgumentException($"cannot convert a {channels}-channel image to {_spec.Channels} channels"),
        };
        if (code is null)
        {
            eight.CopyTo(_converted);
        }
        else
        {
            Cv2.CvtColor(eight, _converted, code.Value);
        }
    }

    private void Resize()
    {
        var size = new Size(_spec.Width, _spec.Height);
        if (_spec.Resize == "stretch")
        {
            if (_converted.Size() == size)
            {
                _converted.CopyTo(_resized);
            }
            else
            {
                Cv2.Resize(_converted, _resized, size, 0, 0, InterpolationFlags.Area);
            }

            return;
        }

        // letterbox: keep the aspect ratio, centre on a black canvas.
        var content = LetterboxContent(_converted.Cols, _converted.Rows, _spec);
        _canvas.SetTo(Scalar.All(0));
        using var roi = new Mat(_canvas, content);
        Cv2.Resize(_converted, roi, content.Size, 0, 0, InterpolationFlags.Area);
        _canvas.CopyTo(_resized);
    }

    /// <summary>Where an image of <paramref name="width"/>×<paramref name="height"/> lies on a letterboxed input canvas.</summary>
    public static Rect LetterboxContent(int width, int height, InputSpec spec)
    {
        var scale = Math.Min((double)spec.Width / width, (double)spec.Height / height);
        var w = Math.Max(1, (int)Math.Round(width * scale));
        var h = Math.Max(1, (int)Math.Round(height * scale));
        return new Rect((spec.Width - w) / 2, (spec.Height - h) / 2, w, h);
    }

    private unsafe void WritePlanes(Span<float> destination)
    {
        var channels = _spec.Channels;
        var width = _spec.Width;
        var height = _spec.Height;
        var plane = width * height;
        for (var y = 0; y < height; y++)
        {
            var row = (byte*)_resized.Ptr(y);
            for (var x = 0; x < width; x++)
            {
                for (var c = 0; c < channels; c++)
                {
                    destination[(c * plane) + (y * width) + x] = (row[(x * channels) + c] * _scale[c]) + _offset[c];
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _converted.Dispose();
        _resized.Dispose();
        _float.Dispose();
        _canvas.Dispose();
    }
}
