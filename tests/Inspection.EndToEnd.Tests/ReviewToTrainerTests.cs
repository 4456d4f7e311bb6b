using Inspection.Config.Options;
using Inspection.TestSupport;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Cli;
using Inspection.Trainer.Training;
using OpenCvSharp;

namespace Inspection.EndToEnd.Tests;

/// <summary>The review queue feeds retraining: frames labelled in the queue land in <c>good/</c> and <c>defect/</c> of
/// the dataset, and <c>trainer classify</c> on that folder trains on them and says how many reviewed images it used.</summary>
public sealed class ReviewToTrainerTests
{
    [Fact]
    public void Labelled_review_frames_are_read_by_trainer_classify_which_reports_how_many_it_used()
    {
        using var temp = new TempDirectory("e2e-review");
        var options = new InspectionOptions
        {
            Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots") },
            Review = new ReviewOptions { Directory = temp.Combine("review"), DatasetDirectory = temp.Combine("dataset") },
        };
        for (var i = 0; i < 20; i++)
        {
            Write(Path.Combine(options.Review.DatasetDirectory, "good", $"g{i:D2}.png"), 60, i);
            Write(Path.Combine(options.Review.DatasetDirectory, "defect", $"d{i:D2}.png"), 190, i);
        }

        using var parts = new ReviewParts(options);
        var queue = parts.Queue;
        var labels = new[] { "good", "good", "defect", "defect", "defect" };
        var moved = labels.Select((label, i) =>
        {
            using var frame = Frame(label == "good" ? (byte)70 : (byte)180, 100 + i);
            var id = queue.FlagFrame("cam1", frame, DateTimeOffset.UtcNow)!;
            return queue.Label(id, label)!;
        }).ToList();
        Assert.All(moved.Zip(labels), m => Assert.Equal(Path.Combine(options.Review.DatasetDirectory, m.Second), Path.GetDirectoryName(m.First)));
        Assert.Empty(queue.List());

        using var log = new StringWriter();
        new ClassifierRun(new JsonProgress(log)).Run(new ClassifyRequest
        {
            Data = options.Review.DatasetDirectory,
            ModelsDirectory = temp.Combine("models"),
            ImageSize = 32,
            WidthMultiplier = 0.25,
            Training = new TrainingOptions { Epochs = 1, BatchSize = 8 },
            Force = true,
        });
        var messages = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("event").GetString() == "message")
            .Select(e => e.GetProperty("text").GetString()!).ToList();
        Assert.Contains(messages, m => m.StartsWith("data: " + options.Review.DatasetDirectory + " (45 images", StringComparison.Ordinal));
        var reviewed = Assert.Single(messages, m => m.StartsWith("reviewed: ", StringComparison.Ordinal));
        Assert.StartsWith("reviewed: 5 images labelled in the daemon's review queue (", reviewed, StringComparison.Ordinal);
    }

    private static Mat Frame(byte level, int seed)
    {
        var image = new Mat(48, 64, MatType.CV_8UC3, Scalar.All(level));
        var random = new Random(seed);
        for (var k = 0; k < 40; k++)
        {
            image.Circle(random.Next(64), random.Next(48), random.Next(2, 6), Scalar.All(level + random.Next(-30, 30)), -1);
        }

        return image;
    }

    private static void Write(string path, byte level, int seed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = Frame(level, seed);
        Cv2.ImWrite(path, image);
    }
}
