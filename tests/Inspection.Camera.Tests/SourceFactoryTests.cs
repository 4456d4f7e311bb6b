using Inspection.Camera.Sources;
using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Camera.Tests;

public sealed class SourceFactoryTests : IDisposable
{
    private readonly TempDirectory _dir = new("sources");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Unknown_scheme_is_refused_listing_the_known_ones()
    {
        var ex = Assert.Throws<SourceException>(() => FrameSourceFactory.Create("gopher://camera/1").Dispose());

        Assert.Contains("unknown source scheme 'gopher'", ex.Message, StringComparison.Ordinal);
        foreach (var scheme in new[] { "v4l2", "rtsp", "http", "https", "file", "dir", "synthetic" })
        {
            Assert.Contains(scheme, ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_scheme_the_config_accepts_makes_a_source_from_its_example()
    {
        // A listed scheme the factory does not open throws here.
        foreach (var example in SourceSchemes.Examples.Values)
        {
            using var source = FrameSourceFactory.Create(example);

            Assert.DoesNotContain(ConfigValidator.Validate(new InspectionOptions { Cameras = [new CameraOptions { Id = "cam1", Source = example }] }),
                e => e.Key.EndsWith(":Source", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Not_a_uri_and_unknown_or_bad_options_name_the_problem()
    {
        Assert.Contains("not a source URI", Assert.Throws<SourceException>(() => FrameSourceFactory.Create("just-a-name").Dispose()).Message, StringComparison.Ordinal);

        var typo = Assert.Throws<SourceException>(() => FrameSourceFactory.Create("file:///v.mp4?lop=true").Dispose());
        Assert.Contains("unknown option(s) lop", typo.Message, StringComparison.Ordinal);
        Assert.Contains("loop", typo.Message, StringComparison.Ordinal);

        var bad = Assert.Throws<SourceException>(() => FrameSourceFactory.Create("synthetic://?width=abc").Dispose());
        Assert.Contains("width=abc", bad.Message, StringComparison.Ordinal);

        var transport = Assert.Throws<SourceException>(() => FrameSourceFactory.Create("rtsp://cam/s?transport=carrier-pigeon").Dispose());
        Assert.Contains("tcp or udp", transport.Message, StringComparison.Ordinal);

        var format = Assert.Throws<SourceException>(() => FrameSourceFactory.Create("v4l2:///dev/video0?format=MJPEG").Dispose());
        Assert.Contains("four-character code", format.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("file:///nonexistent/clip.mp4", "video file /nonexistent/clip.mp4 does not exist")]
    [InlineData("dir:///nonexistent/images", "image folder /nonexistent/images does not exist")]
    [InlineData("v4l2:///dev/video97", "video device /dev/video97 does not exist")]
    public void Missing_file_folder_or_device_fails_to_open_naming_it(string uri, string expected)
    {
        using var source = FrameSourceFactory.Create(uri);

        var ex = Assert.Throws<SourceException>(source.Open);

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stream_that_nobody_serves_fails_to_open_with_its_masked_uri()
    {
        var port = Tools.FreePort();
        using var source = FrameSourceFactory.Create($"rtsp://op:s3cret@127.0.0.1:{port}/line?open_timeout_ms=2000");

        var ex = Assert.Throws<SourceException>(source.Open);

        Assert.Contains($"rtsp://op:***@127.0.0.1:{port}/line", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
        Assert.Contains("cannot open the stream", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_masks_the_password()
    {
        using var source = FrameSourceFactory.Create("rtsp://op:s3cret@camera:554/stream?transport=tcp");

        Assert.Equal("rtsp://op:***@camera:554/stream?transport=tcp", source.Description);
    }

    [Fact]
    public void A_file_that_is_not_a_video_fails_to_open_naming_it()
    {
        var path = _dir.Combine("notes.mp4");
        File.WriteAllText(path, "this is text, not H.264");
        using var source = FrameSourceFactory.Create("file://" + path);

        var ex = Assert.Throws<SourceException>(source.Open);

        Assert.Contains($"cannot open {path} as a video", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Synthetic_source_reads_its_options_and_ends_after_frames()
    {
        using var source = FrameSourceFactory.Create("synthetic://?width=96&height=64&fps=0&frames=3&seed=7");
        source.Open();
        using var image = new Mat();

        var count = 0;
        while (source.Read(image))
        {
            Assert.Equal(new Size(96, 64), image.Size());
            Assert.Equal(MatType.CV_8UC3, image.Type());
            count++;
        }

        Assert.Equal(3, count);
        Assert.True(source.EndOfStream);
    }
}
