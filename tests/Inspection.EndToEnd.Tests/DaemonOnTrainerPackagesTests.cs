using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.Inference.Postprocessing;
using Inspection.Camera.Preprocessing;
using Inspection.Inference.Preprocessing;
using Inspection.Camera.Sources;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Cli;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.TestSupport;
using Inspection.Trainer.Cli;
using Inspection.Trainer.Models;
using Inspection.Trainer.Quickstart;
using Inspection.Trainer.Segmenter;
using Inspection.Trainer.Training;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Inspection.EndToEnd.Tests;

/// <summary>The daemon on model packages written by the trainer's exporter and package writer: the scores it computes
/// (Camera's preprocessing + ONNX Runtime) are the trainer's own (same preprocessing + TorchSharp), it serves them from a
/// camera over MQTT, and it hot-swaps to the next package the trainer makes current.</summary>
public sealed class DaemonOnTrainerPackagesTests(ITestOutputHelper output)
{
    private static InputSpec Input => TrainerPackages.Input;

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public async Task Daemon_serves_trainer_packages_with_the_trainers_scores_and_swaps_to_its_next_package()
    {
        using var temp = new TempDirectory("e2e-trainer-packages");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(temp, broker.Port,
            new CameraOptions { Id = "cam1", Source = "synthetic://?width=160&height=120&fps=10&defect_rate=0.5&seed=5" });
        torch.manual_seed(7);
        using var classifier = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.25);
        using var segmenter = new OneConvSegmenter();
        TrainerPackages.Write(daemon.ModelsDir, classifier, ModelTasks.Classifier, "c1");
        TrainerPackages.Write(daemon.ModelsDir, segmenter, ModelTasks.Segmenter, "s1");

        // 1. inspectiond inspect: the daemon's score is the trainer's sigmoid(logit) on the same image.
        var (image, _, _) = SyntheticScene.Render(160, 120, seed: 11, frameNumber: 4, defectRate: 1);
        var path = temp.Combine("requests", "scene.png");
        using (image)
        {
            Cv2.ImWrite(path, image);
        }

        using var printed = new StringWriter();
        using var errors = new StringWriter();
        Assert.Equal(0, ServiceCommands.InspectFiles(daemon.Options, [path], printed, errors));
        var result = JsonDocument.Parse(printed.ToString()).RootElement;
        Assert.Equal(TrainerScore(classifier, path), result.GetProperty("score").GetDouble(), 4);
        Assert.Equal("c1", result.GetProperty("models").GetProperty("classifier").GetString());
        Assert.Equal("s1", result.GetProperty("models").GetProperty("segmenter").GetString());

        // 2. The service: camera frames become results on the broker, made by the trainer's packages.
        var retrained = TrainerPackages.WriteClassifiers(daemon.ModelsDir, 2).Single();
        await using var probe = await MqttProbe.ConnectAsync(broker.Port);
        await daemon.StartAsync();
        try
        {
            var results = await probe.WaitForAsync($"{DaemonUnderTest.Root}/cam1/result", count: 3, seconds: 60);
            Assert.All(results.Select(MqttProbe.Json), r => Assert.Equal("c1", r.GetProperty("models").GetProperty("classifier").GetString()));

            // 3. The trainer makes a new classifier current: the daemon swaps to it between frames.
            ModelPackage.MakeCurrent(daemon.ModelsDir, ModelTasks.Classifier, retrained);
            await probe.WaitForJsonAsync($"{DaemonUnderTest.Root}/cmd/reply", r => r.GetProperty("ok").GetBoolean() && r.GetProperty("message").GetString()!.Contains("c2", StringComparison.Ordinal), seconds: 60);
            await probe.WaitForJsonAsync($"{DaemonUnderTest.Root}/cam1/result", r => r.GetProperty("models").GetProperty("classifier").GetString() == "c2", seconds: 60);
            var seqs = probe.On($"{DaemonUnderTest.Root}/cam1/result").Select(m => MqttProbe.Json(m).GetProperty("seq").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        }
        finally
        {
            await daemon.StopAsync();
        }
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "JsonElement.EnumerateArray returns a struct enumerator over the parsed document; it holds nothing to free.")]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public async Task Daemon_segmentation_with_the_trainers_unet_package_agrees_with_its_onnx_graph_on_the_same_frames()
    {
        using var temp = new TempDirectory("e2e-trainer-unet");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        const int Width = 160, Height = 120, Seed = 21;
        const double DefectRate = 0.8;
        var daemon = new DaemonUnderTest(temp, broker.Port,
            new CameraOptions { Id = "cam1", Source = $"synthetic://?width={Width}&height={Height}&fps=10&defect_rate={DefectRate}&seed={Seed}" });
        daemon.Options.Pipeline.SkipSegmentationWhenGood = false;

        // The trainer's segment run, briefly: a U-Net (x0.35, 64×64) on the demo's synthetic scenes, exported to ONNX
        // and packaged by the trainer, current in the daemon's models folder.
        DemoDatasets.WriteSegmentation(temp.Combine("scenes"), count: 40, Width, Height, seed: 4);
        using var log = new StringWriter();
        var trained = SegmenterRun.Run(new SegmentRequest
        {
            Data = temp.Combine("scenes"),
            ModelsDirectory = daemon.ModelsDir,
            Options = new SegmenterOptions { Arch = Architectures.UNetMobileNetV2, ImageSize = 64, WidthMultiplier = 0.35, Training = SegmenterOptions.DefaultTraining with { Epochs = 3, BatchSize = 8, Seed = 3 } },
            Version = "unet1",
            Force = true, // this test is about the daemon running the trainer's package, not about the gate
        }, new JsonProgress(log));
        torch.manual_seed(7);
        using var classifier = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.25);
        TrainerPackages.Write(daemon.ModelsDir, classifier, ModelTasks.Classifier, "c1");
        var package = ModelPackage.OpenCurrent(daemon.ModelsDir, ModelTasks.Segmenter);
        Assert.Equal(("unet-mobilenetv2", "unet1"), (package.Manifest.Arch, package.Manifest.Version));

        await using var probe = await MqttProbe.ConnectAsync(broker.Port);
        await daemon.StartAsync();
        List<JsonElement> results;
        try
        {
            results = [.. (await probe.WaitForAsync($"{DaemonUnderTest.Root}/cam1/result", count: 8, seconds: 60)).Select(MqttProbe.Json)];
        }
        finally
        {
            await daemon.StopAsync();
        }

        // The same frames (the synthetic camera's frame N is the scene's frame N) through the package's ONNX graph in
        // ONNX Runtime, the shared preprocessing and the shared mask analysis.
        var manifest = package.Manifest;
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(package.OnnxPath, sessionOptions);
        using var preprocessor = new Preprocessor(manifest.Input);
        var input = new float[preprocessor.TensorLength];
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, manifest.Input.Channels, manifest.Input.Height, manifest.Input.Width]);
        foreach (var result in results)
        {
            Assert.Equal("unet1", result.GetProperty("models").GetProperty("segmenter").GetString());
            var (frame, mask, _) = SyntheticScene.Render(Width, Height, Seed, result.GetProperty("frame_seq").GetInt64(), DefectRate);
            using (frame)
            using (mask)
            {
                preprocessor.Run(frame, input);
            }

            using var outputs = session.Run(runOptions, [manifest.Input.Name], [value], [manifest.Output.Name]);
            var expected = MaskAnalysis.AnalyzeLogits(outputs[0].GetTensorDataAsSpan<float>(), manifest.Input.Width, manifest.Input.Height,
                (float)manifest.Threshold.Value, daemon.Options.Pipeline.MinRegionArea).ScaledTo(Width, Height);
            var segmentation = result.GetProperty("segmentation");
            Assert.Equal(Math.Round(expected.Coverage, 6), segmentation.GetProperty("coverage").GetDouble());
            Assert.Equal(
                expected.Regions.Select(r => (r.X, r.Y, r.Width, r.Height, r.Area)),
                segmentation.GetProperty("regions").EnumerateArray().Select(r => (r.GetProperty("x").GetInt32(), r.GetProperty("y").GetInt32(),
                    r.GetProperty("width").GetInt32(), r.GetProperty("height").GetInt32(), r.GetProperty("area").GetInt32())));
        }

        output.WriteLine($"U-Net test IoU {trained.Test?.Iou:F3} after {trained.Training.History.Count} epochs; regions per frame: " +
            string.Join(", ", results.Select(r => r.GetProperty("segmentation").GetProperty("regions").GetArrayLength())));

        // A trained network finds something on these mostly defective frames: the comparison is not of empty masks.
        Assert.True(results.Any(r => r.GetProperty("segmentation").GetProperty("regions").GetArrayLength() > 0),
            $"no frame had a region; test IoU {trained.Test?.Iou:F3}\n{log}");
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    private static double TrainerScore(nn.Module<Tensor, Tensor> classifier, string imagePath)
    {
        using var image = ImageFiles.Read(imagePath);
        using var preprocessor = new Preprocessor(Input);
        var tensor = new float[preprocessor.TensorLength];
        preprocessor.Run(image, tensor);
        classifier.eval();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var logit = classifier.forward(torch.tensor(tensor, [1, 1, Input.Height, Input.Width])).reshape(-1)[0].item<float>();
        return 1.0 / (1.0 + Math.Exp(-logit));
    }
}
