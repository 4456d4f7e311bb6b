using System.Diagnostics.CodeAnalysis;
using Inspection.Camera.Capture;
using Inspection.Camera.Frames;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Pipeline;

/// <summary>One camera: its capture loop (which never waits for inference; a full queue drops the oldest frame, counted)
/// and the inspector that reads that queue. A camera that fails stops only its own pipeline.</summary>
internal sealed partial class CameraPipeline : IAsyncDisposable
{
    private readonly CaptureLoop _capture;
    private readonly InspectionRunner _runner;
    private readonly ResultSink _sink;
    private readonly ILogger _logger;
    private readonly PipelineHealth? _health;
    private readonly IPipelineProbe? _probe;
    private long _inspected;
    private long _errors;
    private long _skipped;
    private volatile bool _paused;

    public CameraPipeline(CameraOptions camera, PipelineOptions pipeline, InspectionRunner runner, ResultSink sink, TimeProvider time, ILoggerFactory loggers, PipelineHealth? health = null, IPipelineProbe? probe = null)
    {
        _health = health;
        _probe = probe;
        Camera = camera;
        _runner = runner;
        _sink = sink;
        _logger = loggers.CreateLogger<CameraPipeline>();
        var captureLogger = loggers.CreateLogger<CaptureLoop>();
        _capture = probe is null
            ? new CaptureLoop(camera, pipeline.FrameQueueCapacity, time, captureLogger)
            : new CaptureLoop(camera, pipeline.FrameQueueCapacity, probe.CreateSource, time, captureLogger);
    }

    public CameraOptions Camera { get; }

    public string Id => Camera.Id;

    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    /// <summary>Why the pipeline ended early (the camera failed for good), or null while it runs or after a clean stop.</summary>
    public string? Failure { get; private set; }

    public LatencyWindow Latency { get; } = new();

    public CaptureStats CaptureStats => _capture.Stats;

    /// <summary>The state shown in stats, metrics and the console: the capture state of <paramref name="capture"/>
    /// (a <see cref="CaptureStats"/> read once by the caller), or <c>failed</c> once the camera failed for good.</summary>
    public string StateName(CaptureStats capture) => Failure is null ? capture.State.ToString().ToLowerInvariant() : "failed";

    public int QueueDepth => _capture.Frames.CanCount ? _capture.Frames.Count : 0;

    public long Inspected => Interlocked.Read(ref _inspected);

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Frames read while paused, not inspected.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>A copy of the freshest frame (for inspect requests), or null when none has arrived yet.</summary>
    public Frame? TryGetLatest() => _capture.TryGetLatest();

    /// <summary>Captures until <paramref name="stopCapture"/> fires, then inspects the frames still queued and returns.</summary>
    public async Task RunAsync(CancellationToken stopCapture)
    {
        var capture = CaptureAsync(stopCapture);
        var reader = _capture.Frames;
        while (true)
        {
            if (reader.TryRead(out var frame))
            {
                // In flight for the watchdog until handled (inspected, skipped while paused, or failed and logged).
                var work = _health?.BeginWork();
                using (frame)
                {
                    try
                    {
                        await InspectAsync(frame).ConfigureAwait(false);
                    }
                    finally
                    {
                        work?.Dispose();
                        _health?.MarkProgress();
                    }
                }

                continue;
            }

            if (capture.IsCompleted)
            {
                break;
            }

            await Task.WhenAny(reader.WaitToReadAsync(CancellationToken.None).AsTask(), capture).ConfigureAwait(false);
        }

        await capture.ConfigureAwait(false);
    }

    private async Task CaptureAsync(CancellationToken ct)
    {
        try
        {
            await _capture.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Failure = ex.Message;
            LogCameraFailed(_logger, Id, ex);
        }
    }

    private async Task InspectAsync(Frame frame)
    {
        if (_paused)
        {
            Interlocked.Increment(ref _skipped);
            return;
        }

        try
        {
            _probe?.FrameTaken(frame);
            var result = _runner.Inspect(frame.Image, Id, frame.Sequence, frame.CapturedAt, partId: null, imagePath: null, forceSegmentation: false);
            Latency.Add(result.LatencyMs);
            _probe?.Inspected(result, _runner.LastCpu);
            var (numbered, _, jsonCpu) = await _sink.SubmitAsync(result, CancellationToken.None).ConfigureAwait(false);
            Interlocked.Increment(ref _inspected);
            _probe?.Queued(numbered, jsonCpu);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A frame the models cannot take (odd format, a native error) is reported and skipped; the next may be fine.
            if (Interlocked.Increment(ref _errors) <= 10 || Errors % 100 == 0)
            {
                LogFrameFailed(_logger, Id, frame.Sequence, Errors, ex.Message);
            }
        }
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "The pipeline owns the runner it is given (made for this camera by CameraPipelines or the bench's lane).")]
    public async ValueTask DisposeAsync()
    {
        await _capture.DisposeAsync().ConfigureAwait(false);
        _runner.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "camera {Camera} failed and stopped; the other cameras go on")]
    private static partial void LogCameraFailed(ILogger logger, string camera, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "camera {Camera} frame {Frame} not inspected ({Count} so far): {Error}")]
    private static partial void LogFrameFailed(ILogger logger, string camera, long frame, long count, string error);
}
