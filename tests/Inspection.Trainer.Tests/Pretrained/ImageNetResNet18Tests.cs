using System.Diagnostics.CodeAnalysis;
using Inspection.Inference.Preprocessing;
using Inspection.Trainer.Export;
using Inspection.Trainer.Models;
using Inspection.Trainer.Pretrained;
using Inspection.Trainer.Training;
using Inspection.TestSupport;
using OpenCvSharp;
using Size = OpenCvSharp.Size;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Pretrained;

public sealed class ImageNetResNet18Tests
{
    private const int Side = 224;

    [Fact]
    public void Imported_colour_network_gives_the_package_files_features_from_the_camera_preprocessing()
    {
        var images = Images(3, channels: 3);
        var spec = ImageNetResNet18.InputSpecFor(3, Side, Side, "stretch");
        var torchFeatures = TorchFeatures(spec, images);
        var means = ImageNetResNet18.ChannelMeansBgr();

        // ONNX Runtime on the package's own file, input prepared as its preprocessing does: BGR 0-255 minus the mean
        // (per channel; see the next test for its 224x224 mean image).
        var onnxFeatures = images.Select(image => OnnxFeatures(BgrMinus(image, (c, _) => (float)means[c]))).ToArray();

        for (var i = 0; i < images.Length; i++)
        {
            Assert.InRange(RelativeDifference(torchFeatures[i], onnxFeatures[i]), 0, 1e-4);
        }
    }

    [Fact]
    public void Per_channel_mean_stays_close_to_the_packages_mean_image()
    {
        // The package subtracts a 224x224 mean image; any input size needs its per-channel means instead. Measured here:
        // cosine similarity 0.9994 to the original preprocessing's features (largest difference 2-3% of the largest).
        var images = Images(2, channels: 3);
        var spec = ImageNetResNet18.InputSpecFor(3, Side, Side, "stretch");
        var torchFeatures = TorchFeatures(spec, images);
        var prep = PretrainedFiles.ResNetPreprocess.ReadVerified();
        for (var i = 0; i < images.Length; i++)
        {
            var rgb = Rgb(images[i]);
            var preprocessed = OnnxExporter.RunOnnx(prep, "OriginalInput", rgb, [1, 3, Side, Side]);
            var original = OnnxFeatures(preprocessed);
            Assert.InRange(Cosine(torchFeatures[i], original), 0.998, 1.0);
        }
    }

    [Fact]
    public void Grey_network_sums_the_colour_filters()
    {
        var images = Images(2, channels: 1);
        var spec = ImageNetResNet18.InputSpecFor(1, Side, Side, "stretch");
        var torchFeatures = TorchFeatures(spec, images);
        var means = ImageNetResNet18.ChannelMeansBgr();
        for (var i = 0; i < images.Length; i++)
        {
            using var colour = new Mat();
            Cv2.CvtColor(images[i], colour, ColorConversionCodes.GRAY2BGR);
            var onnx = OnnxFeatures(BgrMinus(colour, (c, _) => (float)means[c]));

            // Exact away from the image border; the grey mean is the channels' average, so the stem's zero padding
            // stands for a pixel of that average where the package pads with each channel's own mean (<= 11 of 255
            // apart). Measured: cosine similarity above 0.999, largest difference about 4% of the largest feature.
            Assert.InRange(Cosine(torchFeatures[i], onnx), 0.999, 1.0);
            Assert.InRange(RelativeDifference(torchFeatures[i], onnx), 0, 0.06);
        }
    }

    [Fact]
    public void Pretrained_classifier_exports_through_the_trainers_writer_with_parity()
    {
        using var model = new ResNet18Classifier(1);
        ImageNetResNet18.Load(model.Backbone, ImageNetResNet18.InputSpecFor(1, 96, 64, "stretch"));

        var export = OnnxExporter.Export(model, 1, 64, 96);

        Assert.InRange(export.MaxAbsDifference, 0, OnnxExporter.Tolerance);
        Assert.Equal(22, export.OpCounts["Conv"]); // as many as the package file: same graph, batch norm folded
        Assert.Equal(9, export.OpCounts["Add"]);
    }

    [Fact]
    public void Truncated_or_altered_pretrained_file_is_an_error_naming_it()
    {
        using var dir = new TempDirectory();
        var good = PretrainedFiles.ResNetPreprocess.ReadVerified();
        File.WriteAllBytes(Path.Combine(dir.Path, PretrainedFiles.ResNetPreprocess.Name), good[..(good.Length / 2)]);
        var truncated = Assert.Throws<PretrainedException>(() => PretrainedFiles.ResNetPreprocess.ReadVerified(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "ResNetPreprocess.onnx"), truncated.Message);
        Assert.Contains("damaged", truncated.Message);

        good[100] ^= 1;
        File.WriteAllBytes(Path.Combine(dir.Path, PretrainedFiles.ResNetPreprocess.Name), good);
        Assert.Contains("damaged", Assert.Throws<PretrainedException>(() => ImageNetResNet18.ChannelMeansBgr(dir.Path)).Message);

        var missing = Assert.Throws<PretrainedException>(() => PretrainedFiles.ResNet18.ReadVerified(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "ResNet18.onnx"), missing.Message);
        Assert.Contains("missing", missing.Message);
    }

    [Fact]
    public void Malformed_onnx_bytes_are_a_format_error_not_a_crash()
    {
        var good = PretrainedFiles.ResNetPreprocess.ReadVerified();
        Assert.Throws<FormatException>(() => OnnxModelReader.Read(good.AsMemory(0, good.Length - 1000)));
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static float[][] TorchFeatures(Config.Models.InputSpec spec, Mat[] images)
    {
        using var encoder = new ResNet18Encoder(spec.Channels);
        ImageNetResNet18.Load(encoder, spec);
        encoder.eval();
        using var preprocessor = new Preprocessor(spec);
        var data = new float[images.Length * preprocessor.TensorLength];
        for (var i = 0; i < images.Length; i++)
        {
            preprocessor.Run(images[i], data.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
        }

        using var noCollection = NoCollection.Enter();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var features = encoder.forward(tensor(data, [images.Length, spec.Channels, Side, Side])).mean([2L, 3L]).contiguous().data<float>().ToArray();
        return [.. Enumerable.Range(0, images.Length).Select(i => features[(i * 512)..((i + 1) * 512)])];
    }

    private static float[] OnnxFeatures(float[] input) =>
        OnnxExporter.RunOnnx(PretrainedFiles.ResNet18.ReadVerified(), "Input247", input, [1, 3, Side, Side]);

    /// <summary>CHW floats in B, G, R order minus mean(channel, index).</summary>
    private static float[] BgrMinus(Mat bgr, Func<int, int, float> mean)
    {
        var plane = Side * Side;
        var data = new float[3 * plane];
        for (var y = 0; y < Side; y++)
        {
            for (var x = 0; x < Side; x++)
            {
                var p = bgr.At<Vec3b>(y, x);
                for (var c = 0; c < 3; c++)
                {
                    data[(c * plane) + (y * Side) + x] = p[c] - mean(c, (y * Side) + x);
                }
            }
        }

        return data;
    }

    /// <summary>CHW floats in R, G, B order, 0-255 (the package preprocessing's input).</summary>
    private static float[] Rgb(Mat bgr)
    {
        var bgrPlanes = BgrMinus(bgr, (_, _) => 0);
        var plane = Side * Side;
        return [.. bgrPlanes[(2 * plane)..], .. bgrPlanes[plane..(2 * plane)], .. bgrPlanes[..plane]];
    }

    /// <summary>Smooth gradients, shapes and noise: varied enough to exercise every filter.</summary>
    private static Mat[] Images(int count, int channels)
    {
        var images = new Mat[count];
        var random = new Random(5);
        for (var i = 0; i < count; i++)
        {
            var image = new Mat(Side, Side, MatType.CV_8UC3);
            for (var y = 0; y < Side; y++)
            {
                for (var x = 0; x < Side; x++)
                {
                    image.Set(y, x, new Vec3b((byte)((x * (i + 1)) % 256), (byte)((y * 2) % 256), (byte)random.Next(256)));
                }
            }

            Cv2.Circle(image, new Point(60 + (40 * i), 110), 35, new Scalar(20, 200, 90), -1);
            Cv2.Rectangle(image, new Rect(130, 30 + (20 * i), 60, 40), new Scalar(240, 240, 240), -1);
            Cv2.GaussianBlur(image, image, new Size(3, 3), 0);
            if (channels == 1)
            {
                Cv2.CvtColor(image, image, ColorConversionCodes.BGR2GRAY);
            }

            images[i] = image;
        }

        return images;
    }

    private static double RelativeDifference(float[] actual, float[] expected) =>
        actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)) / expected.Max(Math.Abs);

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
