using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.Config.Models;
using Inspection.TestSupport;
using Inspection.Trainer.Classifier;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Cli;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Metrics;
using Inspection.Trainer.Models;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Training;

/// <summary>Trains once on textures with and without drawn scratches; the tests read that run or start from it.</summary>
public sealed class TrainedClassifierFixture : IDisposable
{
    public TrainedClassifierFixture()
    {
        Data = SyntheticData.TextureFolders(Dir.Combine("data"), perClass: 60, size: 48, seed: 3);
        Result = new ClassifierRun(Progress).Run(ClassifierTrainingTests.Request(Data, Dir.Combine("models"), epochs: 6));
    }

    public TempDirectory Dir { get; } = new("trainer-run");

    public string Data { get; }

    internal RecordingProgress Progress { get; } = new();

    internal ClassifyResult Result { get; }

    public void Dispose() => Dir.Dispose();
}

internal sealed class RecordingProgress : ITrainingProgress
{
    public List<EpochRecord> Epochs { get; } = [];

    public List<string> Messages { get; } = [];

    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
    }

    public void Epoch(EpochRecord record, int epochs, bool best) => Epochs.Add(record);

    public void Message(string text) => Messages.Add(text);
}

public sealed class ClassifierTrainingTests(TrainedClassifierFixture trained) : IClassFixture<TrainedClassifierFixture>
{
    internal static ClassifyRequest Request(string data, string models, int epochs, Func<int, int, bool>? inject = null, string init = "scratch", bool resume = false) => new()
    {
        Data = data,
        ModelsDirectory = models,
        RecallTarget = 0.9,
        Arch = Architectures.ResNet,
        ImageSize = 48,
        WidthMultiplier = 0.25,
        Training = new TrainingOptions { Epochs = epochs, BatchSize = 16, LearningRate = 1e-3, Patience = 0, InjectNonFiniteLoss = inject },
        Augment = AugmentOptions.None with { HorizontalFlip = true, VerticalFlip = true },
        Init = init,
        Resume = resume,
    };

    [Fact]
    public void Training_reduces_the_loss_and_separates_scratched_from_clean_textures()
    {
        var history = trained.Progress.Epochs;
        var result = trained.Result;

        Assert.Equal(6, history.Count);
        Assert.True(history[^1].TrainLoss < history[0].TrainLoss * 0.8, $"train loss {history[0].TrainLoss:F3} -> {history[^1].TrainLoss:F3}");
        Assert.True(result.Test.Auroc > 0.85, $"test AUROC {result.Test.Auroc:F3}");
        Assert.True(result.Choice.Counts.Recall >= 0.9);
        Assert.Equal(ModelPackage.Open(result.PackageDirectory).Manifest.Training.Split[Splits.Validation], result.Choice.Counts.Positives + result.Choice.Counts.Negatives);
    }

    [Fact]
    public void Run_writes_a_current_package_with_threshold_evidence_and_a_report()
    {
        var package = ModelPackage.OpenCurrent(trained.Dir.Combine("models"), ModelTasks.Classifier);
        var manifest = package.Manifest;

        Assert.Equal(trained.Result.PackageDirectory, package.Directory);
        Assert.Equal(ThresholdSelection.WithMargin(trained.Result.Choice.Threshold), manifest.Threshold.Value);
        Assert.Equal((true, false), (manifest.Gate!.Passed, manifest.Gate.Forced));
        Assert.True(File.Exists(Path.Combine(package.Directory, DeployedComparison.SplitFile)));
        Assert.Equal(0.9, manifest.Threshold.RecallTarget);
        Assert.Equal(manifest.Training.Split["validation_defect"], manifest.Threshold.Positives);
        Assert.Equal(1, manifest.Input.Channels);
        Assert.Equal(48, manifest.Input.Width);
        Assert.Contains("test", manifest.Metrics.Keys);
        Assert.Equal(42, manifest.Training.Split["seed"]);
        foreach (var file in new[] { "report.md", "metrics.json", "history.csv", "loss.png", "metrics.png", "pr-curve.png", "confusion.png", "worst-false-negatives.png", "split.csv" })
        {
            Assert.True(new FileInfo(Path.Combine(trained.Result.RunDirectory, file)).Length > 0, $"{file} missing or empty");
        }

        Assert.Equal(7, File.ReadAllLines(Path.Combine(trained.Result.RunDirectory, "history.csv")).Length);
        Assert.Contains("Clopper-Pearson", File.ReadAllText(Path.Combine(trained.Result.RunDirectory, "report.md")), StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_command_reproduces_the_test_split_figures_in_onnx_runtime()
    {
        var (code, stdout, _) = TrainerProcess.Run("eval", "--model", trained.Result.PackageDirectory, "--data", trained.Data, "--split", "test", "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var root = json.RootElement;
        foreach (var key in new[] { "threshold", "recall", "precision", "specificity", "f1", "auroc", "ap", "tp", "fp", "tn", "fn" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"eval --json lacks {key}");
        }

        // trainer eval reproduces the split and scores through Inspection.Inference, as the gate did.
        Assert.Equal(trained.Result.Test.Tp, root.GetProperty("tp").GetInt32());
        Assert.Equal(trained.Result.Test.Fn, root.GetProperty("fn").GetInt32());
        Assert.Equal(trained.Result.Test.Fp, root.GetProperty("fp").GetInt32());
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "A JsonElement array enumerator holds nothing to release; ToList and Select run it to the end.")]
    public void Eval_explain_writes_heat_map_overlays_of_the_worst_errors_and_refuses_a_package_without_the_cam_output()
    {
        using var dir = new TempDirectory("explain");

        var (code, stdout, stderr) = TrainerProcess.Run("eval", "--model", trained.Result.PackageDirectory, "--data", trained.Data, "--explain", dir.Combine("why"), "--json");

        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        var explained = root.GetProperty("explain").EnumerateArray().ToList();
        var fn = root.GetProperty("fn").GetInt32();
        var fp = root.GetProperty("fp").GetInt32();
        Assert.True(fn + fp > 0, "the fixture's model makes no error on all images; nothing to explain");
        Assert.Equal(Math.Min(8, fn), explained.Count(e => e.GetProperty("kind").GetString() == "false-negative"));
        Assert.Equal(Math.Min(8, fp), explained.Count(e => e.GetProperty("kind").GetString() == "false-positive"));
        var threshold = ModelPackage.Open(trained.Result.PackageDirectory).Manifest.Threshold.Value;
        var negatives = explained.Where(e => e.GetProperty("kind").GetString() == "false-negative").Select(e => e.GetProperty("score").GetDouble()).ToList();
        Assert.All(negatives, s => Assert.True(s < threshold));
        Assert.Equal(negatives.Order(), negatives); // worst (lowest-scored defect) first
        foreach (var e in explained)
        {
            using var overlay = OpenCvSharp.Cv2.ImRead(e.GetProperty("path").GetString()!);
            using var image = OpenCvSharp.Cv2.ImRead(e.GetProperty("image").GetString()!);
            Assert.Equal((image.Cols, image.Rows, 3), (overlay.Cols, overlay.Rows, overlay.Channels()));
        }

        // A package from before the cam output: --explain says so, the metrics still need no CAM.
        var old = dir.Combine("old");
        CopyDirectory(trained.Result.PackageDirectory, old);
        var manifest = ModelPackage.Open(old).Manifest;
        (manifest with { Output = manifest.Output with { Cam = null } }).Save(Path.Combine(old, ModelPackage.ManifestFile));
        var refused = TrainerProcess.Run("eval", "--model", old, "--data", trained.Data, "--explain", dir.Combine("old-why"));
        var plain = TrainerProcess.Run("eval", "--model", old, "--data", trained.Data, "--split", "test");
        Assert.Equal(1, refused.Code);
        Assert.Contains("has no class activation map output", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, plain.Code);
    }

    [Fact]
    public void Retraining_starts_from_the_current_package_and_is_gated_against_it()
    {
        using var dir = new TempDirectory("retrain");
        var models = dir.Combine("models");
        CopyDirectory(trained.Result.PackageDirectory, Path.Combine(models, ModelTasks.Classifier, "v1"));
        ModelPackage.MakeCurrent(models, ModelTasks.Classifier, Path.Combine(models, ModelTasks.Classifier, "v1"));
        var progress = new RecordingProgress();

        var result = new ClassifierRun(progress).Run(Request(trained.Data, models, epochs: 1, init: "auto"));

        // The copied package keeps its manifest, so it is known by the version recorded there.
        var original = ModelPackage.Open(trained.Result.PackageDirectory).Manifest.Version;
        var manifest = ModelPackage.Open(result.PackageDirectory).Manifest;
        Assert.Equal(original, manifest.Training.InitFrom);
        Assert.Contains(progress.Messages, m => m.StartsWith($"deployed model {original} on ", StringComparison.Ordinal));
        Assert.Contains(result.Gate.Pass ? "PASSED" : "REJECTED", File.ReadAllText(Path.Combine(result.PackageDirectory, "GATE.txt")), StringComparison.Ordinal);
        var current = ModelPackage.OpenCurrent(models, ModelTasks.Classifier).Directory;
        Assert.Equal(result.IsCurrent ? result.PackageDirectory : Path.Combine(models, ModelTasks.Classifier, "v1"), current);
    }

    [Fact]
    public void A_chance_level_model_is_refused_and_kept_beside_current_and_force_is_recorded()
    {
        // The same textures with labels that have nothing to do with the scratches: nothing to learn.
        using var dir = new TempDirectory("chance");
        var data = dir.Combine("data");
        var random = new Random(11);
        foreach (var file in Directory.GetFiles(trained.Data, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var folder = Path.Combine(data, random.Next(2) == 0 ? "good" : "defect");
            Directory.CreateDirectory(folder);
            File.Copy(file, Path.Combine(folder, Path.GetFileName(Path.GetDirectoryName(file)) + "-" + Path.GetFileName(file)));
        }

        var models = dir.Combine("models");
        CopyDirectory(trained.Result.PackageDirectory, Path.Combine(models, ModelTasks.Classifier, "v1"));
        ModelPackage.MakeCurrent(models, ModelTasks.Classifier, Path.Combine(models, ModelTasks.Classifier, "v1"));

        var refused = new ClassifierRun(new RecordingProgress()).Run(Request(data, models, epochs: 1) with { Version = "chance" });
        var forced = new ClassifierRun(new RecordingProgress()).Run(Request(data, models, epochs: 1) with { Version = "forced", Force = true });

        Assert.False(refused.Gate.Pass);
        Assert.False(refused.IsCurrent);
        Assert.Contains(refused.Gate.Checks, c => c.Name is "auroc" or "specificity" or "vs-deployed-recall" && !c.Pass);
        Assert.True(Directory.Exists(Path.Combine(models, ModelTasks.Classifier, "chance")));
        Assert.Contains("REJECTED", File.ReadAllText(Path.Combine(refused.PackageDirectory, "GATE.txt")), StringComparison.Ordinal);
        var refusedGate = ModelPackage.Open(refused.PackageDirectory).Manifest.Gate!;
        Assert.Equal((false, false, refused.Gate.Reason), (refusedGate.Passed, refusedGate.Forced, refusedGate.Reason));

        Assert.False(forced.Gate.Pass);
        Assert.True(forced.IsCurrent);
        Assert.Equal(forced.PackageDirectory, ModelPackage.OpenCurrent(models, ModelTasks.Classifier).Directory);
        Assert.True(ModelPackage.Open(forced.PackageDirectory).Manifest.Gate!.Forced);
    }

    [Fact]
    public void Nan_guard_skips_a_bad_step_and_stops_on_repeats_without_writing_a_model()
    {
        using var dir = new TempDirectory("nan");
        var models = dir.Combine("models");
        var once = new RecordingProgress();
        var always = new RecordingProgress();

        new ClassifierRun(once).Run(Request(trained.Data, models, epochs: 1, inject: (epoch, step) => step == 1) with { Force = true });
        var before = Directory.GetDirectories(Path.Combine(models, ModelTasks.Classifier)).Length;
        var error = Assert.Throws<TrainingDivergedException>(() => new ClassifierRun(always).Run(Request(trained.Data, models, epochs: 2, inject: (_, _) => true)));

        Assert.Equal(1, once.Epochs.Single().SkippedSteps);
        Assert.Contains(once.Messages, m => m.Contains("loss is NaN; step skipped, learning rate halved", StringComparison.Ordinal));
        Assert.Contains("No model was written", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetDirectories(Path.Combine(models, ModelTasks.Classifier)).Length);
    }

    [Fact]
    public void Resume_continues_an_interrupted_run_from_its_checkpoint()
    {
        using var dir = new TempDirectory("resume");
        var models = dir.Combine("models");
        var first = new RecordingProgress();
        Assert.Throws<TrainingDivergedException>(() => new ClassifierRun(first).Run(Request(trained.Data, models, epochs: 2, inject: (epoch, _) => epoch == 2)));
        var resumed = new RecordingProgress();

        var result = new ClassifierRun(resumed).Run(Request(trained.Data, models, epochs: 2, resume: true));

        Assert.Single(first.Epochs);
        Assert.Equal([2], resumed.Epochs.Select(e => e.Epoch));
        Assert.Contains(resumed.Messages, m => m.StartsWith("resumed from", StringComparison.Ordinal));
        var history = File.ReadAllLines(Path.Combine(result.RunDirectory, "history.csv"));
        Assert.Equal(3, history.Length);
        Assert.StartsWith("1,", history[1], StringComparison.Ordinal);
        Assert.Equal(first.Epochs[0].TrainLoss.ToString(System.Globalization.CultureInfo.InvariantCulture), history[1].Split(',')[2]);
    }

    [Fact]
    public void Lr_auto_finds_the_rate_trains_with_it_and_records_it()
    {
        using var dir = new TempDirectory("lr-auto");
        var progress = new RecordingProgress();
        var request = Request(trained.Data, dir.Combine("models"), epochs: 1);

        var result = new ClassifierRun(progress).Run(request with { Training = request.Training with { AutoLearningRate = true }, Force = true });

        var found = progress.Messages.Single(m => m.StartsWith("lr-find: suggested learning rate", StringComparison.Ordinal));
        var training = ModelPackage.Open(result.PackageDirectory).Manifest.Metrics["training"];
        Assert.Equal(1, training["learning_rate_found"]);
        Assert.Contains(FormattableString.Invariant($"suggested learning rate {training["learning_rate"]:G3}"), found, StringComparison.Ordinal);
        Assert.InRange(training["learning_rate"], 1e-7, 10);
        Assert.Contains(progress.Messages, m => m.StartsWith(FormattableString.Invariant($"optimizer: Adam, peak lr {training["learning_rate"]} (found)"), StringComparison.Ordinal));
        Assert.True(double.IsFinite(progress.Epochs.Single().TrainLoss));
        Assert.True(new FileInfo(Path.Combine(result.RunDirectory, "lr-find.png")).Length > 0);
    }

    [Fact]
    public void Bad_input_gives_a_clear_error_and_a_non_zero_exit()
    {
        using var dir = new TempDirectory("bad");
        Directory.CreateDirectory(dir.Combine("not-a-package"));

        var target = TrainerProcess.Run("classify", "--data", trained.Data, "--out", dir.Combine("models"), "--recall-target", "1.5");
        var package = TrainerProcess.Run("eval", "--model", dir.Combine("not-a-package"), "--data", trained.Data);
        var data = TrainerProcess.Run("classify", "--data", dir.Combine("missing"), "--out", dir.Combine("models"));

        Assert.Equal(1, target.Code);
        Assert.Contains("--recall-target must be in (0, 1)", target.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, package.Code);
        Assert.Contains("not-a-package: not a model package", package.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, data.Code);
        Assert.Contains("missing: classification data not found", data.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("models", ModelTasks.Classifier)));
    }

    [Fact]
    public void Augment_preview_writes_a_png_grid()
    {
        using var dir = new TempDirectory("preview");
        var dataset = ClassificationDataset.Load(trained.Data, new ClassificationDataOptions());

        var path = AugmentPreviewCommand.Write(dataset, new AugmentOptions(), dir.Combine("grid.png"), images: 3, variants: 4, size: 48, seed: 1);

        using var grid = OpenCvSharp.Cv2.ImRead(path);
        Assert.Equal(3 * 48, grid.Rows);
        Assert.Equal(5 * 48, grid.Cols);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
