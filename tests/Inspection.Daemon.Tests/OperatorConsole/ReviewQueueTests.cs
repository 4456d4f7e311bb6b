using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>Which frames the review queue keeps, its cap, and labels that are refused.</summary>
public sealed class ReviewQueueTests
{
    [Fact]
    public void Uncertain_frames_are_kept_until_the_queue_is_full_and_bad_labels_are_refused_by_name()
    {
        using var temp = new TempDirectory("review-queue");
        var options = new InspectionOptions
        {
            Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots") },
            Review = new ReviewOptions { Directory = temp.Combine("review"), DatasetDirectory = temp.Combine("dataset"), Band = 0.1, ConfidentSampleRate = 0, MaxCount = 2 },
        };
        using var parts = new ReviewParts(options);
        var (queue, snapshots) = (parts.Queue, parts.Snapshots);

        Assert.Equal("uncertain", snapshots.ReviewReason(0.45, 0.5));
        Assert.Equal("uncertain", snapshots.ReviewReason(0.59, 0.5));
        Assert.Null(snapshots.ReviewReason(0.9, 0.5));
        Assert.Null(snapshots.ReviewReason(0.1, 0.5));

        using var frame = new Mat(8, 8, MatType.CV_8UC3, Scalar.All(100));
        var first = queue.FlagFrame("cam1", frame, DateTimeOffset.UtcNow)!;
        queue.FlagFrame("cam1", frame, DateTimeOffset.UtcNow);
        Assert.Equal(2, queue.Count);
        Assert.Null(snapshots.ReviewReason(0.5, 0.5)); // full: uncertain frames wait; a flag still goes in
        Assert.NotNull(queue.FlagFrame("cam1", frame, DateTimeOffset.UtcNow));

        var error = Assert.Throws<ArgumentException>(() => queue.Label(first, "scratch"));
        Assert.Contains("'scratch'", error.Message, StringComparison.Ordinal);
        Assert.Null(queue.Label("../../etc/passwd", "good"));
        Assert.Null(queue.Label("no-such-frame", "good"));
        Assert.EndsWith(Path.Combine("dataset", "defect", "review-" + first + ".jpg"), queue.Label(first, "defect"), StringComparison.Ordinal);
        Assert.Equal(2, queue.Count);
        Assert.Equal(2, queue.List().Count);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mat it is made with, and Enqueue takes the snapshot.")]
    public async Task A_result_flagged_from_the_page_puts_its_saved_frame_into_the_queue()
    {
        using var temp = new TempDirectory("review-flag");
        var options = new InspectionOptions
        {
            Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots") },
            Review = new ReviewOptions { Directory = temp.Combine("review"), DatasetDirectory = temp.Combine("dataset"), Band = 0 },
        };
        using var parts = new ReviewParts(options);
        await parts.Snapshots.StartAsync(CancellationToken.None);
        parts.Snapshots.Enqueue(new Inspection.Daemon.Snapshots.Snapshot("r1", new Mat(8, 8, MatType.CV_8UC3, Scalar.All(200)), mask: null));
        await parts.Sink.SubmitAsync(new Inspection.Daemon.Results.InspectionResult
        {
            Id = "r1", Device = "d", Camera = "cam1", CapturedAt = DateTime.UtcNow, Defect = true, Score = 0.9, Threshold = 0.5,
            Models = new Inspection.Daemon.Results.ResultModels("c", "s"), LatencyMs = new Inspection.Daemon.Results.StageLatency(1, 1, 1, 1, 4),
        }, CancellationToken.None);
        parts.Snapshots.Complete();
        await parts.Snapshots.ExecuteTask!;
        parts.History.Flush();

        Assert.Equal("r1", parts.Queue.FlagResult("r1"));
        Assert.True(File.Exists(Path.Combine(options.Review.Directory, "r1.jpg")));
        var note = Assert.Single(parts.Queue.List())!;
        Assert.Equal("flagged", (string?)note["reason"]);
        Assert.Equal(0.9, (double)note["score"]!);
        Assert.Null(parts.Queue.FlagResult("no-such-result"));
    }
}
