using System.Text.Json;
using Inspection.Camera.Preprocessing;
using Inspection.Camera.Sources;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Cli;
using Inspection.Daemon.Tests.Fixtures;
using Inspection.EndToEnd.Tests.Fixtures;
using Inspection.TestSupport;
using Inspection.Trainer.Models;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.EndToEnd.Tests;

/// <summary>The daemon on model packages written by the trainer's exporter and package writer: the scores it computes
/// (Camera's preprocessing + ONNX Runtime) are the trainer's own (same preprocessing + TorchSharp), it serves them from a
/// camera over MQTT, and it hot-swaps to the next package the trainer makes current.</summary>
public sealed class DaemonOnTrainerPackagesTests
{
    private static InputSpec Input => TrainerPackages.Input;

    [Fact]
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

        var output = new StringWriter();
        var errors = new StringWriter();
        Assert.Equal(0, ServiceCommands.InspectFiles(daemon.Options, [path], output, errors));
        var result = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.Equal(TrainerScore(classifier, path), result.GetProperty("score").GetDouble(), 4);
        Assert.Equal("c1", result.GetProperty("models").GetProperty("classifier").GetString());
        Assert.Equal("s1", result.GetProperty("models").GetProperty("segmenter").GetString());

        // 2. The service: camera frames become results on the broker, made by the trainer's packages.
        await using var probe = await MqttProbe.ConnectAsync(broker.Port);
        await daemon.StartAsync();
        try
        {
            var results = await probe.WaitForAsync($"{DaemonUnderTest.Root}/cam1/result", count: 3, seconds: 60);
            Assert.All(results.Select(MqttProbe.Json), r => Assert.Equal("c1", r.GetProperty("models").GetProperty("classifier").GetString()));

            // 3. The trainer makes a new classifier current: the daemon swaps to it between frames.
            using var retrained = Architectures.CreateClassifier(Architectures.MobileNetV2, 1, 0.25);
            TrainerPackages.Write(daemon.ModelsDir, retrained, ModelTasks.Classifier, "c2");
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
