using Inspection.Config.Models;
using OpenCvSharp;
using OpenCvSharp.Internal;

namespace Inspection.Inference.Preprocessing;

/// <summary>
/// Turns an image into the NCHW float tensor a model's <see cref="InputSpec"/> describes: colour conversion, resize,
/// scale to [0, 1], then (x - mean) / std per channel. The trainer and the daemon both use this, so a model sees the
/// same numbers in production as in training. Every step is one OpenCV call: the image is resized in its own channel
/// order (BGR to RGB is only a choice of plane, so it needs no pass of its own), then each channel is converted to
/// floats straight into its plane of the destination through a Mat over the tensor's memory: no per-pixel managed
/// loop, no copy of the frame. Intermediate Mats (and the Mats over a pinned tensor) are reused, and OpenCV is called
/// through OpenCvSharp's native entry points with argument wrappers made once per Mat (its Cv2 methods make two managed
/// wrapper objects per argument per call), so a warm frame into a pinned tensor allocates no managed memory at all.
/// Not thread-safe; use one per inference loop.
/// </summary>
public sealed unsafe class Preprocessor : IDisposable
{
    private readonly InputSpec _spec;
    private readonly Size _size;
    private readonly float[] _scale;
    private readonly float[] _offset;
    private readonly Reused _eight = new();   // a 16-bit image scaled to 8 bits
    private readonly Reused _grey = new();    // a colour image converted to grey, for a grey model
    private readonly Reused _resized = new(); // stretch: the image at the input size, in its own channel order
    private readonly Reused _canvas = new();  // letterbox: the black canvas with the image resized into its middle
    private readonly Reused _channel = new(); // one 8-bit channel of the resized image
    private readonly Reused?[] _planes;       // Mats over the destination's channel planes
    private Reused? _content;                 // the canvas region the image goes into
    private Rect _contentRect;
    private float* _planesAt;
    private bool _disposed;

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
        _size = new Size(spec.Width, spec.Height);
        _planes = new Reused?[spec.Channels];

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

        if (image.Depth() != MatType.CV_8U && image.Depth() != MatType.CV_16U)
        {
            throw new ArgumentException($"unsupported pixel depth {image.Type()} (expected 8-bit or 16-bit)", nameof(image));
        }

        if (image.Channels() is not (1 or 3 or 4))
        {
            throw new ArgumentException($"cannot convert a {image.Channels()}-channel image to {_spec.Channels} channels", nameof(image));
        }

        fixed (float* tensor = destination)
        {
            NativeMethods.HandleException(NativeMethods.core_InputArray_new_byMat(image.CvPtr, out var input));
            try
            {
                WritePlanes(Resize(ToGrey(To8Bit(new Arg(image, input, IntPtr.Zero)))), tensor);
            }
            finally
            {
                NativeMethods.HandleException(NativeMethods.core_InputArray_delete(input));
                GC.KeepAlive(image);
            }
        }
    }

    private Arg To8Bit(Arg image)
    {
        if (image.Mat.Depth() == MatType.CV_8U)
        {
            return image;
        }

        image.ConvertTo(_eight.Arg, MatType.MakeType(MatType.CV_8U, image.Mat.Channels()), 1.0 / 257.0, 0);
        return _eight.Arg;
    }

    // A grey model gets the colour image converted before the resize, as it always did (converting after would round
    // differently). A colour model needs no conversion pass: WritePlanes reads the channels in RGB order.
    private Arg ToGrey(Arg image)
    {
        var channels = image.Mat.Channels();
        if (_spec.Channels == 3 || channels == 1)
        {
            return image;
        }

        var code = channels == 4 ? ColorConversionCodes.BGRA2GRAY : ColorConversionCodes.BGR2GRAY;
        NativeMethods.HandleException(NativeMethods.imgproc_cvtColor(image.In, _grey.Arg.Out, (int)code, 0));
        return _grey.Arg;
    }

    private Arg Resize(Arg image)
    {
        if (_spec.Resize == "stretch")
        {
            if (image.Mat.Size() == _size)
            {
                return image;
            }

            image.ResizeInto(_resized.Arg, _size);
            return _resized.Arg;
        }

        // letterbox: keep the aspect ratio, centre on a black canvas (blackened again only when the image's place moves).
        var content = LetterboxContent(image.Mat.Cols, image.Mat.Rows, _spec);
        var type = image.Mat.Type();
        if (_content is null || content != _contentRect || _canvas.Mat.Type() != type)
        {
            _canvas.Mat.Create(_size, type);
            _canvas.Mat.SetTo(Scalar.All(0));
            _content?.Dispose();
            _content = new Reused(new Mat(_canvas.Mat, content));
            _contentRect = content;
        }

        image.ResizeInto(_content.Arg, content.Size);
        return _canvas.Arg;
    }

    /// <summary>Where an image of <paramref name="width"/>×<paramref name="height"/> lies on a letterboxed input canvas.</summary>
    public static Rect LetterboxContent(int width, int height, InputSpec spec)
    {
        var scale = Math.Min((double)spec.Width / width, (double)spec.Height / height);
        var w = Math.Max(1, (int)Math.Round(width * scale));
        var h = Math.Max(1, (int)Math.Round(height * scale));
        return new Rect((spec.Width - w) / 2, (spec.Height - h) / 2, w, h);
    }

    // Plane c of the tensor = channel c (RGB order) of the resized image * scale + offset, converted by OpenCV straight
    // into the tensor's memory. A grey image feeds every plane of a colour model.
    private void WritePlanes(Arg resized, float* tensor)
    {
        if (tensor != _planesAt)
        {
            var plane = _spec.Width * _spec.Height;
            for (var c = 0; c < _planes.Length; c++)
            {
                _planes[c]?.Dispose();
                _planes[c] = new Reused(Mat.FromPixelData(_spec.Height, _spec.Width, MatType.CV_32FC1, (IntPtr)(tensor + (c * plane))));
            }

            _planesAt = tensor;
        }

        var channels = resized.Mat.Channels();
        for (var c = 0; c < _planes.Length; c++)
        {
            var source = resized;
            if (channels > 1)
            {
                NativeMethods.HandleException(NativeMethods.core_extractChannel(resized.In, _channel.Arg.Out, 2 - c)); // BGR(A) → RGB
                source = _channel.Arg;
            }

            source.ConvertTo(_planes[c]!.Arg, MatType.CV_32F, _scale[c], _offset[c]);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Twice must be harmless (owners dispose on a hot swap and again at shutdown): native wrappers are freed once.
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var reused in (Reused?[])[_eight, _grey, _resized, _canvas, _channel, _content, .. _planes])
        {
            reused?.Dispose();
        }
    }

    // A Mat with its OpenCV argument wrappers (native _InputArray/_OutputArray pointers).
    private readonly record struct Arg(Mat Mat, IntPtr In, IntPtr Out)
    {
        public void ResizeInto(Arg destination, Size size) =>
            NativeMethods.HandleException(NativeMethods.imgproc_resize(In, destination.Out, size, 0, 0, (int)InterpolationFlags.Area));

        public void ConvertTo(Arg destination, MatType type, double alpha, double beta) =>
            NativeMethods.HandleException(NativeMethods.core_Mat_convertTo(Mat.CvPtr, destination.Out, type, alpha, beta));
    }

    // A Mat with its argument wrappers made once: they refer to the Mat's header, so they stay valid when OpenCV
    // reallocates its pixels, and a call through them allocates nothing managed. Fields of the preprocessor, so alive
    // for every call through them.
    private sealed class Reused : IDisposable
    {
        public Reused(Mat mat)
        {
            NativeMethods.HandleException(NativeMethods.core_InputArray_new_byMat(mat.CvPtr, out var input));
            NativeMethods.HandleException(NativeMethods.core_OutputArray_new_byMat(mat.CvPtr, out var output));
            Arg = new Arg(mat, input, output);
        }

        public Reused()
            : this(new Mat())
        {
        }

        public Mat Mat => Arg.Mat;

        public Arg Arg { get; }

        public void Dispose()
        {
            NativeMethods.HandleException(NativeMethods.core_InputArray_delete(Arg.In));
            NativeMethods.HandleException(NativeMethods.core_OutputArray_delete(Arg.Out));
            Mat.Dispose();
        }
    }
}
