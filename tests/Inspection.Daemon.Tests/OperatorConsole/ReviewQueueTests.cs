using Inspection.Config.Options;
using Inspection.Daemon.Tests.Fixtures;
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
}
