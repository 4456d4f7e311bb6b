using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.TestSupport;
using Inspection.Trainer.Tests.Segmentation;
using Inspection.Trainer.Training;
using OpenCvSharp;

namespace Inspection.Trainer.Tests.Training;

public sealed class LrFindTests
{
    [Fact]
    public void Suggestion_is_the_steepest_fall_of_the_smoothed_loss_before_its_minimum()
    {
        // Flat at 1 up to 1e-5, falling to 0.2 at 1e-2 fastest around 1e-3, then rising again (diverging).
        var points = Enumerable.Range(0, 81).Select(i =>
        {
            var log = -7 + (i * 0.1);
            var loss = log < -2 ? 0.6 - (0.4 * Math.Tanh(2 * (log + 3))) : 0.2 + (Math.Pow(log + 2, 2) * 0.5);
            return new LrFindPoint(Math.Pow(10, log), loss, loss);
        }).ToList();

        var result = TrainingLoop.Suggest(points, "end of the sweep");

        Assert.InRange(Math.Log10(result.Suggested), -3.15, -2.85);
        Assert.True(result.Slope < 0);
        Assert.InRange(Math.Log10(result.MinimumLossRate), -2.05, -1.95);
        var flat = points.Select(p => p with { SmoothedLoss = 1 }).ToList();
        Assert.Contains("the loss never fell", Assert.Throws<TrainingDivergedException>(() => TrainingLoop.Suggest(flat, "end")).Message, StringComparison.Ordinal);
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "A JsonElement array enumerator holds nothing to release; ToList and Select run it to the end.")]
    public void Lr_find_on_classifier_data_records_the_curve_plots_it_and_suggests_a_rate_where_the_loss_falls()
    {
        using var dir = new TempDirectory("lr-find");
        var data = SyntheticData.TextureFolders(dir.Combine("data"), perClass: 40, size: 32, seed: 4);

        var (code, stdout, stderr) = TrainerProcess.Run("lr-find", "--data", data, "--arch", "resnet", "--image-size", "32", "--width-multiplier", "0.25",
            "--batch-size", "16", "--steps", "80", "--start-lr", "1e-6", "--end-lr", "10", "--plot", dir.Combine("sweep.png"), "--json", "--threads", "2");

        Assert.True(code == 0, stderr);
        var result = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        var points = result.GetProperty("points").EnumerateArray().Select(p => (Lr: p.GetProperty("lr").GetDouble(), Smoothed: p.GetProperty("smoothed_loss").GetDouble())).ToList();
        var suggested = result.GetProperty("suggested_lr").GetDouble();
        Assert.True(points.Count >= 20, $"{points.Count} points ({result.GetProperty("stopped").GetString()})");
        Assert.Equal(1e-6, points[0].Lr, 9);
        var ratio = points[1].Lr / points[0].Lr;
        Assert.All(points.Skip(1).Zip(points), p => Assert.Equal(ratio, p.First.Lr / p.Second.Lr, 6));

        // Inside the sweep, before the lowest loss, where the smoothed loss falls.
        var at = points.FindIndex(p => p.Lr == suggested);
        Assert.True(at > 0 && at < points.Count - 1, $"suggested {suggested} at point {at} of {points.Count}");
        Assert.True(suggested <= result.GetProperty("minimum_loss_lr").GetDouble());
        Assert.True(result.GetProperty("slope_per_decade").GetDouble() < 0);
        Assert.True(points[at + 1].Smoothed < points[at - 1].Smoothed, $"loss around the suggestion: {points[at - 1].Smoothed} -> {points[at + 1].Smoothed}");
        Assert.True(points.Min(p => p.Smoothed) < points[0].Smoothed * 0.9, "the loss never fell by 10%");

        using var plot = Cv2.ImRead(result.GetProperty("plot").GetString()!);
        Assert.Equal((900, 500), (plot.Cols, plot.Rows));
    }

    [Fact]
    public void Lr_find_recognises_segmenter_data_and_refuses_a_bad_range()
    {
        using var dir = new TempDirectory("lr-find-seg");
        AerialScenes.WriteDataset(dir.Combine("data"), 16, 64, seed: 2);

        var (code, stdout, stderr) = TrainerProcess.Run("lr-find", "--data", dir.Combine("data"), "--image-size", "64", "--width-multiplier", "0.25",
            "--batch-size", "4", "--steps", "30", "--start-lr", "1e-5", "--plot", dir.Combine("seg.png"), "--json", "--threads", "2");
        var bad = TrainerProcess.Run("lr-find", "--data", dir.Combine("data"), "--start-lr", "1", "--end-lr", "0.1");

        Assert.True(code == 0, stderr);
        var result = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(new Segmenter.SegmenterOptions().Arch, result.GetProperty("arch").GetString());
        Assert.InRange(result.GetProperty("suggested_lr").GetDouble(), 1e-5, 10);
        Assert.True(File.Exists(dir.Combine("seg.png")));
        Assert.Equal(1, bad.Code);
        Assert.Contains("--start-lr and --end-lr must satisfy 0 < start < end (got 1, 0.1)", bad.Stderr, StringComparison.Ordinal);
    }
}
