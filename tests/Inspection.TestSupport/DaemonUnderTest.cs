using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.Daemon;
using Microsoft.Extensions.Hosting;
using OpenCvSharp;

namespace Inspection.TestSupport;

/// <summary>A daemon host in the test process, with its own models, outbox, snapshots and request folders.</summary>
public sealed class DaemonUnderTest : IAsyncDisposable
{
    public const string Device = "dev1";
    public const string Root = "inspection/" + Device;

    public DaemonUnderTest(TempDirectory temp, int brokerPort, params CameraOptions[] cameras)
    {
        Temp = temp;
        Directory.CreateDirectory(RequestsDir);
        Options = new InspectionOptions
        {
            Mqtt = new MqttOptions
            {
                Host = "127.0.0.1",
                Port = brokerPort,
                Device = Device,
                ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
                ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
                StatsInterval = TimeSpan.FromSeconds(1),
                MaxPayloadBytes = 1024,
            },
            Cameras = [.. cameras],
            Models = new ModelsOptions { Directory = ModelsDir, Provider = ModelProvider.Auto, Threads = 1 },
            Outbox = new OutboxOptions { Directory = temp.Combine("outbox") },
            Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots") },
            Inspect = new InspectOptions { AllowedFolders = [RequestsDir] },
            Pipeline = new PipelineOptions { ShutdownTimeout = TimeSpan.FromSeconds(10) },
            Http = new HttpOptions { Listen = "" }, // tests that want the console set 127.0.0.1:0 (a free port)
            Review = new ReviewOptions { Directory = temp.Combine("review"), DatasetDirectory = temp.Combine("dataset") },
        };
    }

    public TempDirectory Temp { get; }

    public InspectionOptions Options { get; }

    public string ModelsDir => Temp.Combine("models");

    public string RequestsDir => Temp.Combine("requests");

    public IHost? Host { get; private set; }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "Host is null here: before the first start, and after StopAsync, which disposes it.")]
    public async Task StartAsync(Action<Microsoft.Extensions.Logging.ILoggingBuilder>? logging = null)
    {
        Host = DaemonHost.Build(Options, logging: logging);
        await Host.StartAsync();
    }

    public async Task StopAsync()
    {
        if (Host is not null)
        {
            await Host.StopAsync();
            Host.Dispose();
            Host = null;
        }
    }

    /// <summary>Writes a grey image into the requests folder: bright (a defect for <see cref="TinyOnnx"/>) or dark, with
    /// an optional bright square (a region for the segmenter).</summary>
    public string WriteImage(string name, byte background, Rect? brightSquare = null, int size = 64)
    {
        using var image = new Mat(size, size, MatType.CV_8UC1, Scalar.All(background));
        if (brightSquare is { } square)
        {
            image[square].SetTo(Scalar.All(255));
        }

        var path = Path.Combine(RequestsDir, name);
        Cv2.ImWrite(path, image);
        return path;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
