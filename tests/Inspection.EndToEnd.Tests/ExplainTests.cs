using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.Inference.Postprocessing;
using Inspection.Inference.Preprocessing;
using Inspection.TestSupport;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.EndToEnd.Tests;

/// <summary>The daemon's "why was it rejected" overlay from a trainer package's class activation map output.</summary>
public sealed class ExplainTests
{
    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public async Task Daemon_writes_the_heat_map_beside_a_defect_snapshot_and_names_it_and_older_packages_keep_working()
    {
        using var temp = new TempDirectory("e2e-explain");
        torch.manual_seed(7);
        using var classifier = Architectures.CreateClassifier(Architectures.ResNet, 1, 0.25);
        using var segmenter = new OneConvSegmenter();
        foreach (var (dir, cam) in new[] { ("new", (string?)PooledClassifier.CamOutput), ("old", null) })
        {
            // Threshold 1e-9: every frame is a defect, so every frame gets a snapshot.
            TrainerPackages.Write(temp.Combine(dir), classifier, ModelTasks.Classifier, "c1", threshold: 1e-9, cam: cam);
            TrainerPackages.Write(temp.Combine(dir), segmenter, ModelTasks.Segmenter, "s1");
        }

        using var frame = new Mat(120, 160, MatType.CV_8UC1, OpenCvSharp.Scalar.All(90));
        Cv2.Line(frame, new Point(20, 100), new Point(140, 30), OpenCvSharp.Scalar.All(230), 3);
        var withCam = await InspectOne(temp.Combine("new"), temp.Combine("new-snapshots"), frame);
        var withoutCam = await InspectOne(temp.Combine("old"), temp.Combine("old-snapshots"), frame);

        Assert.True(withCam.Defect);
        Assert.Equal(withCam.Id + SnapshotWriter.ExplainSuffix, withCam.Explain);
        using var written = Cv2.ImRead(Path.Combine(temp.Combine("new-snapshots"), withCam.Explain!));
        Assert.Equal((160, 120), (written.Cols, written.Rows));

        // The overlay shows the trainer's own CAM (TorchSharp on the same preprocessed frame), up to JPEG's loss.
        using var preprocessor = new Preprocessor(TrainerPackages.Input);
        var tensor = new float[preprocessor.TensorLength];
        preprocessor.Run(frame, tensor);
        float[] expectedCam;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            classifier.eval();
            expectedCam = PooledClassifier.Cam((IPooledClassifier)classifier, torch.tensor(tensor, [1, 1, 64, 64])).data<float>().ToArray();
        }

        using var expected = HeatMap.Overlay(frame, expectedCam, 2, 2, TrainerPackages.Input);
        using var difference = new Mat();
        Cv2.Absdiff(written, expected, difference);
        Assert.True(Cv2.Mean(difference).Val0 < 4, $"mean |difference| {Cv2.Mean(difference).Val0:F2}");

        // A classifier package without the output: same result otherwise, explain null, no overlay file.
        Assert.True(withoutCam.Defect);
        Assert.Null(withoutCam.Explain);
        Assert.NotNull(withoutCam.Segmentation!.Mask);
        Assert.Equal([withoutCam.Id + ".jpg", withoutCam.Id + SnapshotWriter.MaskSuffix], Directory.GetFiles(temp.Combine("old-snapshots")).Select(Path.GetFileName).Order());
        Assert.Contains("\"explain\":null", System.Text.Encoding.UTF8.GetString(ResultJsonContext.Serialize(withoutCam)), StringComparison.Ordinal);
    }

    private static async Task<InspectionResult> InspectOne(string models, string snapshots, Mat frame)
    {
        using var store = new ModelStore(new ModelsOptions { Directory = models }, TimeProvider.System, NullLogger<ModelStore>.Instance);
        store.LoadInitial();
        using var writer = new SnapshotWriter(new SnapshotsOptions { Directory = snapshots }, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        using var runner = new InspectionRunner(store, new PipelineOptions(), writer, "line1");
        var result = runner.Inspect(frame, "cam1", 1, DateTimeOffset.UtcNow, null, null, forceSegmentation: true);
        writer.Complete();
        await writer.ExecuteTask!;
        return result;
    }
}
