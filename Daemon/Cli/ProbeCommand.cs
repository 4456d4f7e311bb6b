using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inspection.Camera.Capture;
using Inspection.Config.Options;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Cli;

/// <summary>
/// <c>inspectiond probe --source URI [--frames N] [--json]</c>: opens a source through the same capture loop the daemon
/// uses, reads N frames and reports resolution, frames read and dropped, measured fps and reconnects. Exits 1 when the
/// source cannot be opened.
/// </summary>
internal static class ProbeCommand
{
    /// <summary>Exit code when the source could not be opened or delivered nothing.</summary>
    public const int CannotOpenExitCode = 1;

    /// <summary>The <c>probe</c> subcommand.</summary>
    public static Command Create()
    {
        var source = new Option<string>("--source", "-s") { Description = "source URI, e.g. file:///v.mp4, rtsp://host/stream?transport=tcp, v4l2:///dev/video0", Required = true };
        var frames = new Option<int>("--frames", "-n") { Description = "frames to read", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "print one JSON object instead of text" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for the frames before reporting what arrived", DefaultValueFactory = _ => 60 };
        var command = new Command("probe", "Open a camera source, read N frames and report resolution, frames read and dropped, measured fps and reconnects");
        command.Options.Add(source);
        command.Options.Add(frames);
        command.Options.Add(json);
        command.Options.Add(timeout);
        command.SetAction(parse => Run(
            parse.GetValue(source)!,
            Math.Max(1, parse.GetValue(frames)),
            parse.GetValue(json),
            TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(timeout))),
            Console.Out,
            Console.Error));
        return command;
    }

    /// <summary>Probes <paramref name="uri"/>; returns the exit code.</summary>
    public static int Run(string uri, int frameCount, bool json, TimeSpan timeout, TextWriter output, TextWriter errors)
    {
        using var loggers = LoggerFactory.Create(b => b
            .SetMinimumLevel(LogLevel.Warning)
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace) // stdout is the report
            .AddFilter("Microsoft", LogLevel.None));
        var camera = new CameraOptions { Id = "probe", Source = uri };
        var report = ProbeAsync(camera, frameCount, timeout, loggers.CreateLogger<CaptureLoop>()).GetAwaiter().GetResult();

        if (report.Stats.FramesRead == 0)
        {
            errors.WriteLine($"probe: {report.Stats.LastError ?? $"{report.Source}: no frame arrived"}");
            if (json)
            {
                output.WriteLine(report.ToJson());
            }

            return CannotOpenExitCode;
        }

        output.WriteLine(json ? report.ToJson() : report.ToText());
        return 0;
    }

    private static async Task<ProbeReport> ProbeAsync(CameraOptions camera, int frameCount, TimeSpan timeout, ILogger logger)
    {
        // Enough room that a consumer which only counts frames never causes drops: drops then mean a slow machine.
        await using var loop = new CaptureLoop(camera, 16, logger: logger);
        using var stop = new CancellationTokenSource(timeout);
        loop.StateChanged += (_, e) =>
        {
            // A source that never delivered and fails is "cannot open": report it instead of retrying for the timeout.
            if (e.State is SourceState.Reconnecting or SourceState.Ended && loop.Stats.FramesRead == 0)
            {
                _ = stop.CancelAsync();
            }
        };

        var clock = Stopwatch.StartNew();
        var run = loop.RunAsync(stop.Token);
        long consumed = 0;
        (long Sequence, long Timestamp)? first = null;
        (long Sequence, long Timestamp) last = default;
        try
        {
            await foreach (var frame in loop.Frames.ReadAllAsync(stop.Token))
            {
                using (frame)
                {
                    first ??= (frame.Sequence, frame.MonotonicTimestamp);
                    last = (frame.Sequence, frame.MonotonicTimestamp);
                }

                if (++consumed >= frameCount)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Timed out or failed to open: report what arrived.
        }

        await stop.CancelAsync();
        await run;
        var stats = loop.Stats;

        // Decode rate between the first and last frame seen (by their source numbers, so dropped frames count):
        // the time to open the source is not part of it.
        var fps = first is { } f && last.Sequence > f.Sequence
            ? (last.Sequence - f.Sequence) / Stopwatch.GetElapsedTime(f.Timestamp, last.Timestamp).TotalSeconds
            : 0;
        return new ProbeReport(Config.Loading.EffectiveSettings.MaskUriCredentials(camera.Source), stats, consumed, fps, clock.Elapsed);
    }

    private sealed record ProbeReport(string Source, CaptureStats Stats, long Consumed, double Fps, TimeSpan Elapsed)
    {
        private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["source"] = Source,
            ["width"] = Stats.Width,
            ["height"] = Stats.Height,
            ["frames_read"] = Stats.FramesRead,
            ["frames_dropped"] = Stats.FramesDropped,
            ["fps"] = Math.Round(Fps, 2),
            ["reconnects"] = Stats.Reconnects,
            ["state"] = Stats.State.ToString().ToLowerInvariant(),
            ["last_error"] = Stats.LastError,
            ["seconds"] = Math.Round(Elapsed.TotalSeconds, 3),
        }, JsonOptions);

        public string ToText() => string.Create(
            CultureInfo.InvariantCulture,
            $"""
            source      {Source}
            resolution  {Stats.Width}x{Stats.Height}
            frames read {Stats.FramesRead} (dropped {Stats.FramesDropped}, reconnects {Stats.Reconnects})
            fps         {Fps:F1} measured while reading
            state       {Stats.State}{(Stats.LastError is null ? "" : $" (last error: {Stats.LastError})")}
            time        {Elapsed.TotalSeconds:F2} s including opening
            """);
    }
}
