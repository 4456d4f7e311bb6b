using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Inference.Preprocessing;
using OpenCvSharp;

namespace Inspection.Inference.Tests;

/// <summary>The OpenCV-only preprocessing gives the tensor the managed per-pixel implementation it replaced gave (that
/// implementation is kept below as the oracle): models trained and thresholded on the old numbers see the same numbers.</summary>
public sealed class PreprocessorParityTests
{
    // Float rounding only: OpenCV may fuse p*scale+offset into one FMA where the old loop rounded twice (~1e-7 here).
    private const float Tolerance = 1e-5f;

    public static TheoryData<int, int, int, MatType, string, int, int> Cases => new()
    {
        // frame width, height, model channels, frame type, resize, model width, height
        { 640, 480, 1, MatType.CV_8UC1, "stretch", 128, 128 },
        { 640, 480, 1, MatType.CV_8UC3, "stretch", 224, 224 },
        { 640, 480, 1, MatType.CV_8UC4, "letterbox", 128, 128 },
        { 640, 480, 3, MatType.CV_8UC3, "stretch", 128, 128 },
        { 640, 480, 3, MatType.CV_8UC3, "letterbox", 224, 224 },
        { 1280, 720, 3, MatType.CV_8UC3, "letterbox", 128, 96 },
        { 320, 240, 3, MatType.CV_8UC1, "stretch", 128, 128 },
        { 320, 240, 3, MatType.CV_8UC4, "stretch", 100, 60 },
        { 300, 200, 3, MatType.CV_16UC3, "letterbox", 128, 128 },
        { 300, 200, 1, MatType.CV_16UC1, "stretch", 64, 64 },
        { 64, 48, 3, MatType.CV_8UC3, "letterbox", 128, 128 },   // upscaled
        { 128, 128, 3, MatType.CV_8UC3, "stretch", 128, 128 },   // already the input size: no resize
        { 128, 128, 1, MatType.CV_8UC1, "letterbox", 128, 128 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tensor_matches_the_replaced_implementation(int width, int height, int channels, MatType type, string resize, int modelWidth, int modelHeight)
    {
        var spec = Spec(modelWidth, modelHeight, channels, resize);
        using var frame = Noise(width, height, type, seed: width + channels);

        AssertSameTensor(spec, frame);
    }

    [Theory]
    [InlineData(1, "stretch")]
    [InlineData(3, "letterbox")]
    public void A_region_of_interest_view_matches_too(int channels, string resize)
    {
        // A view into a larger frame has rows that are not contiguous in memory.
        var spec = Spec(128, 128, channels, resize);
        using var frame = Noise(640, 480, MatType.CV_8UC3, seed: 7);
        using var roi = new Mat(frame, new Rect(100, 60, 300, 200));

        AssertSameTensor(spec, roi);
    }

    [Fact]
    public void Frames_of_changing_size_and_tensors_at_other_addresses_each_match()
    {
        // The canvas, the letterbox region and the Mats over the tensor are reused across calls: each must follow a
        // change of frame size, channel count or destination.
        var spec = Spec(128, 128, 3, "letterbox");
        using var pre = new Preprocessor(spec);
        foreach (var (w, h, type) in new[] { (640, 480, MatType.CV_8UC3), (200, 400, MatType.CV_8UC1), (640, 480, MatType.CV_8UC4), (640, 480, MatType.CV_8UC3) })
        {
            using var frame = Noise(w, h, type, seed: w * h);
            var tensor = new float[pre.TensorLength + 7];
            pre.Run(frame, tensor.AsSpan(7));
            AssertClose(Reference(spec, frame), tensor[7..]);
        }
    }

    private static void AssertSameTensor(InputSpec spec, Mat frame)
    {
        using var pre = new Preprocessor(spec);
        var tensor = new float[pre.TensorLength];
        pre.Run(frame, tensor);
        AssertClose(Reference(spec, frame), tensor);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= Tolerance, $"largest difference {worst}");
    }

    private static InputSpec Spec(int w, int h, int c, string resize) => new()
    {
        Width = w,
        Height = h,
        Channels = c,
        Colour = c == 1 ? "grey" : "rgb",
        Mean = c == 1 ? [0.449f] : [0.485f, 0.456f, 0.406f],
        Std = c == 1 ? [0.226f] : [0.229f, 0.224f, 0.225f],
        Resize = resize,
    };

    private static Mat Noise(int width, int height, MatType type, int seed)
    {
        var random = new Random(seed);
        var values = width * height * type.Channels;
        Array pixels = type.Depth == MatType.CV_16U
            ? Enumerable.Range(0, values).Select(_ => (ushort)random.Next(65536)).ToArray()
            : Enumerable.Range(0, values).Select(_ => (byte)random.Next(256)).ToArray();
        using var wrapped = Mat.FromPixelData(height, width, type, pixels);
        var frame = wrapped.Clone();

        Cv2.GaussianBlur(frame, frame, new Size(5, 5), 0); // some structure, so area resizing averages unlike values
        return frame;
    }

    // The implementation this replaced (up to commit 66eb828): colour conversion on the full frame, area resize, a
    // letterbox canvas copy, then a managed loop over every pixel and channel.
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "source is another name for the caller's image or for eight, which the using above disposes.")]
    private static float[] Reference(InputSpec spec, Mat image)
    {
        using var eight = new Mat();
        var source = image;
        if (image.Depth() == MatType.CV_16U)
        {
            image.ConvertTo(eight, MatType.MakeType(MatType.CV_8U, image.Channels()), 1.0 / 257.0);
            source = eight;
        }

        using var converted = new Mat();
        ColorConversionCodes? code = (spec.Channels, source.Channels()) switch
        {
            (1, 1) => null,
            (1, 3) => ColorConversionCodes.BGR2GRAY,
            (1, 4) => ColorConversionCodes.BGRA2GRAY,
            (3, 1) => ColorConversionCodes.GRAY2RGB,
            (3, 3) => ColorConversionCodes.BGR2RGB,
            _ => ColorConversionCodes.BGRA2RGB,
        };
        if (code is null)
        {
            source.CopyTo(converted);
        }
        else
        {
            Cv2.CvtColor(source, converted, code.Value);
        }

        var size = new Size(spec.Width, spec.Height);
        using var resized = new Mat();
        if (spec.Resize == "stretch")
        {
            if (converted.Size() == size)
            {
                converted.CopyTo(resized);
            }
            else
            {
                Cv2.Resize(converted, resized, size, 0, 0, InterpolationFlags.Area);
            }
        }
        else
        {
            using var canvas = new Mat(spec.Height, spec.Width, converted.Type(), Scalar.All(0));
            var content = Preprocessor.LetterboxContent(converted.Cols, converted.Rows, spec);
            using var roi = new Mat(canvas, content);
            Cv2.Resize(converted, roi, content.Size, 0, 0, InterpolationFlags.Area);
            canvas.CopyTo(resized);
        }

        var channels = spec.Channels;
        var plane = spec.Width * spec.Height;
        var tensor = new float[channels * plane];
        using var flat = resized.Reshape(1);
        flat.GetArray(out byte[] pixels);
        for (var y = 0; y < spec.Height; y++)
        {
            var row = pixels.AsSpan(y * spec.Width * channels);
            for (var x = 0; x < spec.Width; x++)
            {
                for (var c = 0; c < channels; c++)
                {
                    var scale = 1f / (255f * spec.Std[c]);
                    var offset = -spec.Mean[c] / spec.Std[c];
                    tensor[(c * plane) + (y * spec.Width) + x] = (row[(x * channels) + c] * scale) + offset;
                }
            }
        }

        return tensor;
    }
}
