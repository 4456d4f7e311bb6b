using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.Daemon.Snapshots;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.Daemon.Tests;

/// <summary>Defect snapshots on disk: names, overlay, retention by count, bytes and age, and disk errors.</summary>
public sealed class SnapshotWriterTests
{
    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    public async Task Snapshots_are_named_by_result_id_and_only_the_newest_max_count_are_kept()
    {
        using var temp = new TempDirectory("snapshots-count");
        var options = new SnapshotsOptions { Directory = temp.Combine("snap"), MaxCount = 3 };
        using var writer = new SnapshotWriter(options, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        var names = new List<string?>();
        for (var i = 0; i < 5; i++)
        {
            names.Add(writer.Enqueue(Snapshot($"r{i}", withMask: true)));
            await Task.Delay(30); // distinct write order on coarse file-system clocks
        }

        writer.Complete();
        await writer.ExecuteTask!;

        Assert.Equal(["r0.mask.png", "r1.mask.png", "r2.mask.png", "r3.mask.png", "r4.mask.png"], names);
        var files = Directory.GetFiles(options.Directory).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["r2.jpg", "r2.mask.png", "r3.jpg", "r3.mask.png", "r4.jpg", "r4.mask.png"], files);
        using var overlay = Cv2.ImRead(Path.Combine(options.Directory, "r4.mask.png"));
        Assert.Equal(new Vec3b(0, 0, 255), Blend(overlay.At<Vec3b>(5, 5)));
        Assert.Equal(overlay.At<Vec3b>(60, 60), new Vec3b(100, 100, 100));
        Assert.Equal(5, writer.Written);
    }

    [SmallDiskFact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    public async Task On_a_full_disk_a_failed_snapshot_leaves_no_partial_file_and_frees_room_for_the_next()
    {
        // The old writer left the cut-short JPEG behind and freed nothing, so every later snapshot failed as well.
        using var disk = new SmallDisk(512);
        var options = new SnapshotsOptions { Directory = disk.Combine("snap") };
        using var writer = new SnapshotWriter(options, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        for (var i = 0; i < 40; i++)
        {
            // Noise does not compress: each JPEG is about 100 KB, so the disk is full after four or five.
            var frame = new Mat(256, 256, MatType.CV_8UC3);
            Cv2.Randu(frame, Scalar.All(0), Scalar.All(255));
            writer.Enqueue(new Snapshot($"n{i:00}", frame, null));
            await Task.Delay(20);
        }

        writer.Complete();
        await writer.ExecuteTask!;

        Assert.True(writer.Errors > 0, "the disk never filled up");
        Assert.True(writer.Written > 20, $"only {writer.Written} of 40 written: a full disk stopped all snapshots");
        foreach (var file in Directory.GetFiles(options.Directory))
        {
            // A whole JPEG ends with the end-of-image marker.
            var bytes = File.ReadAllBytes(file);
            Assert.True(bytes.Length > 2 && bytes[^2] == 0xFF && bytes[^1] == 0xD9, $"{Path.GetFileName(file)} is cut short ({bytes.Length} bytes)");
        }

        Assert.Contains("n39.jpg", Directory.GetFiles(options.Directory).Select(Path.GetFileName));
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    public async Task Old_snapshots_found_at_start_are_removed_by_age_and_the_byte_cap_holds()
    {
        using var temp = new TempDirectory("snapshots-age");
        var options = new SnapshotsOptions { Directory = temp.Combine("snap"), MaxAge = TimeSpan.FromDays(7), MaxBytes = 1024 * 1024 };
        Directory.CreateDirectory(options.Directory);
        var old = Path.Combine(options.Directory, "old.jpg");
        File.WriteAllBytes(old, new byte[100]);
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddDays(-8));
        var big = Path.Combine(options.Directory, "big.jpg");
        File.WriteAllBytes(big, new byte[1024 * 1024]);
        File.SetLastWriteTimeUtc(big, DateTime.UtcNow.AddDays(-1));

        using var writer = new SnapshotWriter(options, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        writer.Enqueue(Snapshot("fresh", withMask: false));
        writer.Complete();
        await writer.ExecuteTask!;

        Assert.Equal(["fresh.jpg"], Directory.GetFiles(options.Directory).Select(Path.GetFileName));
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    public async Task A_disk_error_is_counted_and_the_writer_keeps_going()
    {
        using var temp = new TempDirectory("snapshots-error");
        var blocked = temp.Combine("not-a-folder");
        File.WriteAllText(blocked, "a file where the snapshot folder should be");
        using var writer = new SnapshotWriter(new SnapshotsOptions { Directory = blocked, GoodSampleRate = 1 }, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        Assert.True(writer.SampleGood());
        writer.Enqueue(Snapshot("a", withMask: true));
        writer.Enqueue(Snapshot("b", withMask: false));
        writer.Complete();
        await writer.ExecuteTask!;
        Assert.Equal(2, writer.Errors);
        Assert.Equal(0, writer.Written);
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    private static Snapshot Snapshot(string id, bool withMask)
    {
        var frame = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(100));
        Mat? mask = null;
        if (withMask)
        {
            mask = new Mat(16, 16, MatType.CV_8UC1, Scalar.All(0));
            mask[new Rect(0, 0, 4, 4)].SetTo(Scalar.All(255));
        }

        return new Snapshot(id, frame, mask);
    }

    // The overlay is a 50/50 blend of grey 100 with red; report which way it leans, so JPEG-free PNG values compare.
    private static Vec3b Blend(Vec3b pixel) => new(pixel.Item0 < 60 ? (byte)0 : pixel.Item0, pixel.Item1 < 60 ? (byte)0 : pixel.Item1, pixel.Item2 > 170 ? (byte)255 : pixel.Item2);
}
