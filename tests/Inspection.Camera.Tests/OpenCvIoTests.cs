using Inspection.Camera.Preprocessing;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Camera.Tests;

public sealed class OpenCvIoTests : IDisposable
{
    private readonly TempDirectory _dir = new("opencv");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(".png", 0)]
    [InlineData(".bmp", 0)]
    [InlineData(".jpg", 8)]
    [InlineData(".tif", 0)]
    public void Colour_images_round_trip_through_each_format(string extension, int tolerance)
    {
        using var image = new Mat(40, 60, MatType.CV_8UC3, new Scalar(10, 120, 250));
        Cv2.Rectangle(image, new Rect(10, 10, 20, 15), new Scalar(200, 30, 60), -1);
        var path = _dir.Combine("img" + extension);
        Assert.True(Cv2.ImWrite(path, image));

        using var read = ImageFiles.Read(path);

        Assert.Equal(image.Size(), read.Size());
        Assert.Equal(3, read.Channels());
        using var diff = new Mat();
        Cv2.Absdiff(image, read, diff);
        // Lossless formats must match exactly; JPEG only on average (edges ring under chroma subsampling).
        var mean = Cv2.Mean(diff);
        var worst = Math.Max(mean.Val0, Math.Max(mean.Val1, mean.Val2));
        Assert.True(worst <= tolerance, $"mean pixel difference {worst} > {tolerance}");
    }

    [Fact]
    public void Sixteen_bit_grey_png_keeps_its_depth()
    {
        using var image = new Mat(8, 8, MatType.CV_16UC1, Scalar.All(40000));
        var path = _dir.Combine("deep.png");
        Cv2.ImWrite(path, image);

        using var read = ImageFiles.Read(path);

        Assert.Equal(MatType.CV_16UC1, read.Type());
        Assert.Equal(40000, read.At<ushort>(3, 3));
    }

    [Theory]
    [InlineData(".tif", 1)]
    [InlineData(".tif", 3)]
    [InlineData(".png", 3)]
    public void Sixteen_bit_tiff_and_png_keep_depth_and_channels(string extension, int channels)
    {
        using var image = new Mat(6, 10, MatType.MakeType(MatType.CV_16U, channels), Scalar.All(0));
        image.SetTo(new Scalar(1000, 30000, 65535));
        var path = _dir.Combine($"deep{channels}{extension}");
        Assert.True(Cv2.ImWrite(path, image));

        using var read = ImageFiles.Read(path);

        Assert.Equal(MatType.MakeType(MatType.CV_16U, channels), read.Type());
        if (channels == 1)
        {
            Assert.Equal(1000, read.At<ushort>(2, 3));
        }
        else
        {
            Assert.Equal(new Vec3w(1000, 30000, 65535), read.At<Vec3w>(2, 3));
        }
    }

    [Fact]
    public void Corrupt_and_missing_files_name_the_file()
    {
        var corrupt = _dir.Combine("broken.png");
        File.WriteAllBytes(corrupt, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);

        var ex = Assert.Throws<ImageReadException>(() => ImageFiles.Read(corrupt).Dispose());
        Assert.Contains("broken.png", ex.Message, StringComparison.Ordinal);
        Assert.Contains("cannot decode", ex.Message, StringComparison.Ordinal);

        var missing = Assert.Throws<ImageReadException>(() => ImageFiles.Read(_dir.Combine("absent.jpg")).Dispose());
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
    }

    [RequiresToolFact("ffmpeg")]
    public void Video_made_by_ffmpeg_is_decoded_frame_by_frame()
    {
        var path = Tools.MakeVideo(_dir.Combine("clip.mp4"), 160, 120, frames: 30);

        using var capture = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        Assert.True(capture.IsOpened(), "OpenCV could not open the H.264 file: is the FFMPEG backend present?");
        var frames = 0;
        using var frame = new Mat();
        while (capture.Read(frame) && !frame.Empty())
        {
            Assert.Equal(new Size(160, 120), frame.Size());
            frames++;
        }

        Assert.Equal(30, frames);
    }
}
