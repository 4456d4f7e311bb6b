using System.Text.Json;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Cli;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Inspection.Trainer.Tests.Segmentation;

public sealed class SegmenterCliTests(ITestOutputHelper output)
{
    private static readonly string Trainer = Path.Combine(AppContext.BaseDirectory, "trainer");

    private static string RunTrainer(params string[] args) => Tools.RunIn(null, TimeSpan.FromMinutes(10), Trainer, args);

    [Fact]
    public void Segment_with_a_recall_target_then_eval_json_reproduces_the_test_metrics_through_onnx_runtime()
    {
        using var dir = new TempDirectory("seg-cli");
        var data = dir.Combine("data");
        Directory.CreateDirectory(data);
        for (var i = 0; i < 32; i++)
        {
            var (image, mask) = AerialScenes.Render(64, i, seed: 11);
            using (image)
            using (mask)
            {
                Cv2.ImWrite(Path.Combine(data, $"tile {i:D2}.jpg"), image);
                Cv2.ImWrite(Path.Combine(data, $"tile {i:D2}.png"), mask);
            }
        }

        var models = dir.Combine("models");
        var trained = RunTrainer("segment", "--data", data, "--out", models, "--image-size", "64", "--epochs", "2", "--batch-size", "4",
            "--recall-target", "0.9", "--init", "scratch", "--json", "--threads", "2", "--force"); // two epochs: about eval, not the gate
        output.WriteLine(trained);
        var package = ModelPackage.OpenCurrent(models, ModelTasks.Segmenter);
        var evaluated = RunTrainer("eval", "--model", Path.Combine(models, "segmenter", "current"), "--data", data, "--split", "test", "--json", "--threads", "1");
        output.WriteLine(evaluated);

        var result = JsonDocument.Parse(evaluated.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(("unet-resnet18", "imagenet"), (package.Manifest.Arch, package.Manifest.Training.InitFrom)); // the defaults
        Assert.Contains("BCE pos_weight", trained, StringComparison.Ordinal); // derived from the masks and printed
        Assert.Equal("recall-target", package.Manifest.Threshold.Method);
        Assert.True(package.Manifest.Threshold.Recall >= 0.9);
        Assert.Equal(package.Manifest.Threshold.Value, result.GetProperty("threshold").GetDouble(), 9);
        Assert.Equal(package.Manifest.Metrics["test"]["iou"], result.GetProperty("iou").GetDouble(), 2);
        Assert.Equal(package.Manifest.Metrics["test"]["pixel_recall"], result.GetProperty("pixel_recall").GetDouble(), 2);
        Assert.True(result.TryGetProperty("dice", out _), "eval --json has no dice");
        Assert.True(result.TryGetProperty("pixel_precision", out _), "eval --json has no pixel_precision");

        // The inference time is measured per image through ONNX Runtime with the threads asked for.
        var mean = result.GetProperty("ms_per_image").GetDouble();
        var p50 = result.GetProperty("ms_per_image_p50").GetDouble();
        var p95 = result.GetProperty("ms_per_image_p95").GetDouble();
        Assert.True(mean > 0 && p50 > 0 && p50 <= p95, $"ms per image: mean {mean}, p50 {p50}, p95 {p95}");
        Assert.Equal(1, result.GetProperty("threads").GetInt32());
        Assert.Equal(64, result.GetProperty("input_width").GetInt32());

        Assert.Equal(package.Manifest.Training.Split["test"], result.GetProperty("images").GetInt32());
        Assert.Contains(package.Manifest.Metrics["thresholds"].Keys, k => k == "best_iou_threshold");
        var run = Path.Combine(models, "runs", $"segmenter-{package.Manifest.Version}");
        Assert.True(File.Exists(Path.Combine(run, "examples.png")));
        Assert.True(File.Exists(Path.Combine(run, "curves.png")));
        Assert.True(File.Exists(Path.Combine(run, "metrics.json")));
    }

    [Fact]
    public void Segment_on_a_folder_without_pairs_fails_with_the_folder_named()
    {
        using var dir = new TempDirectory("seg-cli-empty");
        using var process = Tools.Start(Trainer, ["segment", "--data", dir.Path, "--out", dir.Combine("models")]);
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(1, process.ExitCode);
        Assert.Contains($"{dir.Path}: no image files", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Quickstart_makes_a_current_classifier_and_segmenter()
    {
        using var dir = new TempDirectory("quickstart");
        var progress = new TextProgress();

        var code = QuickstartCommand.Run(dir.Path, images: 40, epochs: 1, progress);
        output.WriteLine(progress.ToString());

        Assert.Equal(0, code);
        Assert.Equal(ModelTasks.Classifier, ModelPackage.OpenCurrent(dir.Path, ModelTasks.Classifier).Manifest.Task);
        var segmenter = ModelPackage.OpenCurrent(dir.Path, ModelTasks.Segmenter);
        Assert.Equal(128, segmenter.Manifest.Input.Width);
    }
}
