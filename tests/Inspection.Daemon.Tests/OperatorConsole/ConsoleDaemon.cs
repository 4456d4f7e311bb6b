using System.Diagnostics.CodeAnalysis;
using System.Net.Http.Json;
using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Http;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>One daemon with the console on a free loopback port, shared by the console tests (API, page, review,
/// tampering): camera <c>line</c> reads an ffmpeg-made clip whose brightness swings across the tiny classifier's
/// threshold (defects, good frames and uncertain ones), camera <c>tamper</c> a clip that is normal for 3 s and then
/// darkened for 3 s, looped (an alarm that starts and ends).</summary>
public sealed class ConsoleDaemon : IAsyncLifetime
{
    public TempDirectory Temp { get; } = new("console");

    public TestBroker Broker { get; } = new();

    public MqttProbe Probe { get; private set; } = null!;

    public DaemonUnderTest Daemon { get; private set; } = null!;

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP006:Implement IDisposable", Justification = TestOwnership.AsyncLifetime)]
    public HttpClient Http { get; private set; } = null!;

    public string Url { get; private set; } = "";

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "xunit initializes the fixture once; Http is unset before.")]
    public async Task InitializeAsync()
    {
        await Broker.StartAsync();
        Probe = await MqttProbe.ConnectAsync(Broker.Port);
        var line = Clips.Make(Temp.Combine("line.mp4"), "eq=brightness=0.45*sin(2*PI*t/2):eval=frame", seconds: 4);
        var tamper = Clips.Make(Temp.Combine("tamper.mp4"), Clips.Darkened, seconds: 6, modifiedFrom: 3);
        var quick = new TamperingOptions { Interval = TimeSpan.FromMilliseconds(100) };
        Daemon = new DaemonUnderTest(Temp, Broker.Port,
            new CameraOptions { Id = "line", Source = $"file://{line}?loop=true&realtime=true", Tampering = new TamperingOptions { Enabled = false } },
            new CameraOptions { Id = "tamper", Source = $"file://{tamper}?loop=true&realtime=true", Tampering = quick });
        Daemon.Options.Http.Listen = "127.0.0.1:0";
        Daemon.Options.Snapshots.GoodSampleRate = 0.2;
        Daemon.Options.Review.ConfidentSampleRate = 0;
        Daemon.Options.Review.MaxCount = 10; // uncertain frames stop at 10, so the page's list (the oldest 48) shows a flagged one
        TinyOnnx.WriteCurrent(Daemon.ModelsDir, "v1");
        await Daemon.StartAsync();
        Url = Daemon.Host!.Services.GetRequiredService<ConsoleServer>().Url!;
        Http = new HttpClient { BaseAddress = new Uri(Url) };
    }

    public async Task<JsonElement> GetJsonAsync(string path) =>
        (await Http.GetFromJsonAsync<JsonElement>(path))!;

    /// <summary>Polls <paramref name="path"/> until <paramref name="done"/> holds (at most 30 s).</summary>
    public async Task<JsonElement> WaitForJsonAsync(string path, Func<JsonElement, bool> done)
    {
        JsonElement last = default;
        for (var i = 0; i < 300; i++)
        {
            last = await GetJsonAsync(path);
            if (done(last))
            {
                return last;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{path} never became what the test waits for; last: {last}");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Daemon.DisposeAsync();
        await Probe.DisposeAsync();
        await Broker.DisposeAsync();
        Temp.Dispose();
    }
}

[CollectionDefinition(Name)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "An xunit collection definition; the suffix says what it is.")]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleDaemon>
{
    public const string Name = "console daemon";
}

/// <summary>The status of a console response, the response disposed.</summary>
public static class Responses
{
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "The caller hands over the request in flight; nothing else reads its response.")]
    public static async Task<System.Net.HttpStatusCode> StatusOf(Task<HttpResponseMessage> sending)
    {
        using var response = await sending;
        return response.StatusCode;
    }
}

/// <summary>Small test clips made with ffmpeg: testsrc at 160×120, 10 fps, optionally modified by a filter from a time on.</summary>
public static class Clips
{
    public const string Darkened = "eq=brightness=-0.7:contrast=0.2";
    public const string Blurred = "gblur=sigma=6";
    public const string Shifted = "crop=iw-60:ih:60:0,pad=iw+60:ih:0:0";

    public static string Make(string path, string filter, int seconds, int? modifiedFrom = null)
    {
        var source = $"testsrc=size=160x120:rate=10:duration={seconds}";
        var graph = modifiedFrom is { } from
            ? $"{source},split[a][b];[a]trim=end={from},setpts=PTS-STARTPTS[n];[b]trim=start={from},setpts=PTS-STARTPTS,{filter}[m];[n][m]concat"
            : $"{source},{filter}";
        Tools.Run("ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", path);
        return path;
    }
}
