using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Models;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Tests.Training;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Segmentation;

/// <summary>The shared training loop's guard, checkpoints and resume, seen through the segmenter.</summary>
public sealed class SegmenterLoopTests
{
    private static SegmentRequest Request(TempDirectory dir, int epochs, Func<int, int, bool>? inject = null, bool resume = false)
    {
        if (!Directory.Exists(dir.Combine("data")))
        {
            AerialScenes.WriteDataset(dir.Combine("data"), 32, 64, seed: 5); // enough training pairs (hash split) for five steps an epoch
        }

        return new SegmentRequest
        {
            Data = dir.Combine("data"),
            ModelsDirectory = dir.Combine("models"),
            Options = new SegmenterOptions
            {
                Arch = Architectures.UNetMobileNetV2,
                PositiveWeightFromMasks = false,
                ImageSize = 64,
                WidthMultiplier = 0.25,
                Training = SegmenterOptions.DefaultTraining with { Epochs = epochs, BatchSize = 2, Seed = 3, InjectNonFiniteLoss = inject },
            },
            ValidationFraction = 0.2,
            TestFraction = 0.2,
            Resume = resume,
            Force = true, // two tiny epochs: these tests are about the loop, not the gate
        };
    }

    [Fact]
    public void Nan_guard_skips_a_bad_segmenter_step_and_stops_on_repeats_without_writing_a_model()
    {
        using var dir = new TempDirectory("seg-nan");
        var once = new RecordingProgress();
        var always = new RecordingProgress();

        var outcome = SegmenterRun.Run(Request(dir, epochs: 1, inject: (_, step) => step == 1), once);
        var written = Directory.GetDirectories(dir.Combine("models", ModelTasks.Segmenter)).Length;
        var error = Assert.Throws<TrainingDivergedException>(() => SegmenterRun.Run(Request(dir, epochs: 1, inject: (_, _) => true), always));

        Assert.Equal(1, once.Epochs.Single().SkippedSteps);
        Assert.Equal(1, outcome.Training.History.Single().SkippedSteps);
        Assert.Contains(once.Messages, m => m.Contains("step 2: loss is NaN; step skipped, learning rate halved", StringComparison.Ordinal));
        Assert.Contains("No model was written", error.Message, StringComparison.Ordinal);
        Assert.Equal(written, Directory.GetDirectories(dir.Combine("models", ModelTasks.Segmenter)).Length);
        Assert.Empty(always.Epochs);
    }

    [Fact]
    public void Segmenter_resume_continues_an_interrupted_run_from_its_checkpoint()
    {
        using var dir = new TempDirectory("seg-resume");
        var first = new RecordingProgress();
        Assert.Throws<TrainingDivergedException>(() => SegmenterRun.Run(Request(dir, epochs: 2, inject: (epoch, _) => epoch == 2), first));
        Assert.False(Directory.Exists(dir.Combine("models", ModelTasks.Segmenter)));
        var resumed = new RecordingProgress();

        var outcome = SegmenterRun.Run(Request(dir, epochs: 2, resume: true), resumed);

        Assert.Single(first.Epochs);
        Assert.Equal([2], resumed.Epochs.Select(e => e.Epoch));
        Assert.Contains(resumed.Messages, m => m.StartsWith("resumed from", StringComparison.Ordinal));
        Assert.Equal([1, 2], outcome.Training.History.Select(e => e.Epoch));
        Assert.Equal(first.Epochs[0].TrainLoss, outcome.Training.History[0].TrainLoss);
        Assert.Equal(outcome.ReportDirectory, Directory.GetDirectories(dir.Combine("models", "runs")).Single());
        Assert.True(File.Exists(Path.Combine(outcome.ReportDirectory, "done")));
        Assert.Equal(Path.GetFileName(outcome.ReportDirectory), $"segmenter-{ModelPackage.OpenCurrent(dir.Combine("models"), ModelTasks.Segmenter).Manifest.Version}");

        // A finished run is not resumed again.
        var again = Assert.Throws<ArgumentException>(() => SegmenterRun.Run(Request(dir, epochs: 2, resume: true), new RecordingProgress()));
        Assert.Contains("no unfinished segmenter run with a checkpoint to resume", again.Message, StringComparison.Ordinal);
    }
}
