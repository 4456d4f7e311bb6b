using Inspection.Camera.Preprocessing;
using Inspection.Inference.Preprocessing;
using Inspection.Config.Models;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Segmenter;

/// <summary>
/// Turns images and 0/1 masks (already at the input size) into an input batch N×C×H×W, through the shared
/// <see cref="Preprocessor"/> so the trainer feeds the network exactly what the daemon will, and a target batch
/// N×1×H×W of 0/1 floats.
/// </summary>
internal sealed class SegmentationBatch : IDisposable
{
    private readonly Preprocessor _preprocessor;
    private readonly int _plane;

    /// <summary>Creates a batcher for one input spec.</summary>
    public SegmentationBatch(InputSpec spec)
    {
        _preprocessor = new Preprocessor(spec);
        _plane = spec.Width * spec.Height;
    }

    /// <summary>Floats in one preprocessed image.</summary>
    public int ImageLength => _preprocessor.TensorLength;

    /// <summary>The input spec.</summary>
    public InputSpec Spec => _preprocessor.Spec;

    /// <summary>Preprocesses one image into <paramref name="destination"/>.</summary>
    public void Image(Mat image, Span<float> destination) => _preprocessor.Run(image, destination);

    /// <summary>Builds the input tensor for <paramref name="images"/>.</summary>
    public Tensor Inputs(IReadOnlyList<Mat> images)
    {
        var data = new float[images.Count * ImageLength];
        for (var i = 0; i < images.Count; i++)
        {
            Image(images[i], data.AsSpan(i * ImageLength, ImageLength));
        }

        return tensor(data, [images.Count, Spec.Channels, Spec.Height, Spec.Width]);
    }

    /// <summary>Builds the N×1×H×W 0/1 target tensor for <paramref name="masks"/>.</summary>
    public Tensor Targets(IReadOnlyList<Mat> masks)
    {
        var data = new float[masks.Count * _plane];
        for (var i = 0; i < masks.Count; i++)
        {
            var bytes = MaskBytes(masks[i]);
            for (var p = 0; p < _plane; p++)
            {
                data[(i * _plane) + p] = bytes[p] != 0 ? 1f : 0f;
            }
        }

        return tensor(data, [masks.Count, 1, Spec.Height, Spec.Width]);
    }

    /// <summary>The mask's pixels, row-major; checks it has the input size.</summary>
    public byte[] MaskBytes(Mat mask)
    {
        if (mask.Rows != Spec.Height || mask.Cols != Spec.Width || mask.Type() != MatType.CV_8UC1)
        {
            throw new ArgumentException($"mask must be {Spec.Width}x{Spec.Height} 8-bit single-channel, got {mask.Cols}x{mask.Rows} {mask.Type()}");
        }

        using var continuous = mask.IsContinuous() ? null : mask.Clone();
        (continuous ?? mask).GetArray(out byte[] bytes);
        return bytes;
    }

    /// <inheritdoc />
    public void Dispose() => _preprocessor.Dispose();
}
