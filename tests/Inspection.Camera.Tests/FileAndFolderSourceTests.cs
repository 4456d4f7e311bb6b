using Inspection.Camera.Sources;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Camera.Tests;

public sealed class FileAndFolderSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new("file-sources");

    public void Dispose() => _dir.Dispose();

    private static int ReadAll(IFrameSource source, int limit = 10_000)
    {
        source.Open();
        using var image = new Mat();
        var count = 0;
        while (count < limit && source.Read(image))
        {
            count++;
        }

        return count;
    }

    [RequiresToolFact("ffmpeg")]
    public void H264_mp4_and_mjpeg_avi_deliver_every_frame_then_end()
    {
        var mp4 = Tools.MakeVideo(_dir.Combine("clip.mp4"), 160, 120, frames: 40);
        var avi = Tools.MakeVideo(_dir.Combine("clip.avi"), 160, 120, frames: 40, codecArgs: "-c:v mjpeg -q:v 5");

        foreach (var path in new[] { mp4, avi })
        {
            using var source = FrameSourceFactory.Create("file://" + path);
            Assert.Equal(40, ReadAll(source));
            Assert.True(source.EndOfStream, $"{path}: a file read to its end is the end of the stream");
        }
    }

    [RequiresToolFact("ffmpeg")]
    public void Looping_file_starts_again_and_never_ends()
    {
        var mp4 = Tools.MakeVideo(_dir.Combine("short.mp4"), 96, 64, frames: 10);
        using var source = FrameSourceFactory.Create($"file://{mp4}?loop=true");

        Assert.Equal(35, ReadAll(source, limit: 35));
        Assert.False(source.EndOfStream);
    }

    [RequiresToolFact("ffmpeg")]
    public void Decode_threads_reach_the_decoder_and_default_to_one()
    {
        var mp4 = Tools.MakeVideo(_dir.Combine("threads.mp4"), 160, 120, frames: 12);
        foreach (var (uri, threads) in new[] { ($"file://{mp4}", 1), ($"file://{mp4}?decode_threads=3", 3) })
        {
            using var source = (VideoFileSource)FrameSourceFactory.Create(uri);
            Assert.Equal(12, ReadAll(source));
            Assert.Equal(threads, source.DecoderThreadsInUse);
        }

        var bad = Assert.Throws<SourceException>(() => FrameSourceFactory.Create($"file://{mp4}?decode_threads=-1").Dispose());
        Assert.Contains("decode_threads=-1", bad.Message, StringComparison.Ordinal);
    }

    [RequiresToolFact("ffmpeg")]
    public void Realtime_file_is_paced_at_its_frame_rate()
    {
        var mp4 = Tools.MakeVideo(_dir.Combine("paced.mp4"), 96, 64, frames: 12, fps: 25);
        using var source = FrameSourceFactory.Create($"file://{mp4}?realtime=true");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(12, ReadAll(source));

        // 12 frames at 25 fps: the last is due 11/25 s = 0.44 s after the first. A lower bound only: pacing may not run fast.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.42), $"12 frames took {clock.Elapsed.TotalSeconds:F2} s");
    }

    [RequiresToolFact("ffmpeg")]
    public void Truncated_mjpeg_avi_delivers_what_is_there_and_ends()
    {
        var avi = Tools.MakeVideo(_dir.Combine("whole.avi"), 160, 120, frames: 60, codecArgs: "-c:v mjpeg -q:v 5");
        var truncated = _dir.Combine("truncated.avi");
        var bytes = File.ReadAllBytes(avi);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var log = new ListLogger();
        using var source = FrameSourceFactory.Create("file://" + truncated, log);
        var count = ReadAll(source);

        Assert.InRange(count, 10, 59);
        Assert.True(source.EndOfStream);
        Assert.Contains(log.Lines, l => l.Contains($"stopped after {count} of 60 frames: the file is truncated or corrupt", StringComparison.Ordinal));
    }

    [RequiresToolFact("ffmpeg")]
    public void Truncated_mp4_without_its_index_fails_to_open_naming_the_file()
    {
        var mp4 = Tools.MakeVideo(_dir.Combine("whole.mp4"), 160, 120, frames: 60);
        var truncated = _dir.Combine("truncated.mp4");
        var bytes = File.ReadAllBytes(mp4);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        using var source = FrameSourceFactory.Create("file://" + truncated);

        var ex = Assert.Throws<SourceException>(source.Open);
        Assert.Contains(truncated, ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_folder_is_read_in_name_order_skipping_corrupt_and_non_image_files()
    {
        for (var i = 0; i < 4; i++)
        {
            using var image = new Mat(20, 30, MatType.CV_8UC1, Scalar.All(10 + (i * 50)));
            Cv2.ImWrite(_dir.Combine($"img{i}.png"), image);
        }

        File.WriteAllBytes(_dir.Combine("img1b.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]); // corrupt JPEG between img1 and img2
        File.WriteAllText(_dir.Combine("readme.txt"), "not an image");
        var log = new ListLogger();
        using var source = new ImageFolderSource(SourceUri.Parse("dir://" + _dir.Path), log);
        source.Open();
        using var frame = new Mat();

        var values = new List<byte>();
        var files = new List<string>();
        while (source.Read(frame))
        {
            values.Add(frame.At<byte>(0, 0));
            files.Add(Path.GetFileName(source.CurrentFile!));
        }

        Assert.Equal([10, 60, 110, 160], values);
        Assert.Equal(["img0.png", "img1.png", "img2.png", "img3.png"], files);
        Assert.Equal(1, source.CorruptFiles);
        Assert.True(source.EndOfStream);
        Assert.Contains(log.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("img1b.jpg: cannot decode as an image", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.Contains("ignoring 1 file(s) that are not images", StringComparison.Ordinal) && l.Contains("readme.txt", StringComparison.Ordinal));
    }

    [Fact]
    public void Looping_folder_repeats_and_a_folder_of_only_corrupt_images_ends()
    {
        using (var image = new Mat(8, 8, MatType.CV_8UC3, Scalar.All(1)))
        {
            Cv2.ImWrite(_dir.Combine("a.png"), image);
            Cv2.ImWrite(_dir.Combine("b.bmp"), image);
        }

        using (var looping = FrameSourceFactory.Create($"dir://{_dir.Path}?loop=true"))
        {
            Assert.Equal(7, ReadAll(looping, limit: 7));
        }

        var broken = _dir.Combine("broken");
        Directory.CreateDirectory(broken);
        File.WriteAllBytes(Path.Combine(broken, "x.png"), [1, 2, 3]);
        using var corrupt = FrameSourceFactory.Create($"dir://{broken}?loop=true");
        Assert.Equal(0, ReadAll(corrupt));
        Assert.True(corrupt.EndOfStream);
    }

    [Fact]
    public void Folder_without_images_fails_to_open_naming_it()
    {
        File.WriteAllText(_dir.Combine("notes.txt"), "x");
        using var source = FrameSourceFactory.Create("dir://" + _dir.Path);

        var ex = Assert.Throws<SourceException>(source.Open);

        Assert.Contains($"no images", ex.Message, StringComparison.Ordinal);
        Assert.Contains(_dir.Path, ex.Message, StringComparison.Ordinal);
    }
}
