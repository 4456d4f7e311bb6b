using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Inspection.Camera.Frames;
using Inspection.Camera.Sources;
using Inspection.Config.Options;
using Inspection.Config.Retry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Capture;

/// <summary>
/// One camera's capture loop: opens the source named by <see cref="CameraOptions.Source"/>, reads frames on a dedicated
/// thread, applies the fps cap and region of interest, and hands frames over through a bounded drop-oldest channel
/// (dropped frames are disposed and counted). A source that fails to open, fails a read, or stalls is reopened with
/// exponential backoff and jitter. Cancellation returns promptly even while a read is blocked in native code.
/// </summary>
/// <remarks>
/// Frames read from <see cref="Frames"/> belong to the reader, who disposes them. Treat their pixels as read-only:
/// in stream mode the freshest frame shares its pixels with the frame kept for <see cref="TryGetLatest"/>.
/// </remarks>
public sealed partial class CaptureLoop : IAsyncDisposable
{
    private readonly CameraOptions _options;
    private readonly Func<string, IFrameSource> _createSource;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Frame> _channel;
    private readonly Lock _latestLock = new();
    private readonly Lock _statsLock = new();
    private readonly CancellationTokenSource _disposing = new();
    private readonly RateMeter _rate;
    private readonly FpsCap _fpsCap;
    private readonly RoiCrop _roi;
    private Frame? _latest;
    private Task? _running;
    private bool _disposed;
    private string _description;

    private long _sequence;
    private long _framesRead;
    private long _delivered;
    private long _dropped;
    private long _skipped;
    private long _reconnects;
    private SourceState _state = SourceState.Connecting;
    private string? _lastError;
    private int _width;
    private int _height;

    /// <summary>Creates the loop for one camera; <see cref="RunAsync"/> starts it.</summary>
    /// <param name="options">The camera: source URI, fps cap, trigger mode, ROI, stall timeout.</param>
    /// <param name="queueCapacity">Frames buffered before the oldest is dropped (at least 1).</param>
    /// <param name="time">Clock for timestamps, stall detection and backoff; the system clock when null.</param>
    /// <param name="logger">Where state changes and failures are logged.</param>
    public CaptureLoop(CameraOptions options, int queueCapacity, TimeProvider? time = null, ILogger? logger = null)
        : this(options, queueCapacity, uri => FrameSourceFactory.Create(uri, logger), time, logger)
    {
    }

    /// <summary>Creates the loop with a custom way to create the source (each reconnect creates a fresh one).</summary>
    /// <param name="options">The camera: source URI, fps cap, trigger mode, ROI, stall timeout.</param>
    /// <param name="queueCapacity">Frames buffered before the oldest is dropped (at least 1).</param>
    /// <param name="createSource">Creates a source from <see cref="CameraOptions.Source"/>.</param>
    /// <param name="time">Clock for timestamps, stall detection and backoff; the system clock when null.</param>
    /// <param name="logger">Where state changes and failures are logged.</param>
    public CaptureLoop(CameraOptions options, int queueCapacity, Func<string, IFrameSource> createSource, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        _options = options;
        _createSource = createSource;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _description = Config.Loading.EffectiveSettings.MaskUriCredentials(options.Source);
        _rate = new RateMeter(_time);
        _fpsCap = new FpsCap(options.MaxFps, _time);
        _roi = new RoiCrop(options.Id, options.Roi, _logger);
        _channel = Channel.CreateBounded<Frame>(
            new BoundedChannelOptions(queueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true },
            dropped =>
            {
                dropped.Dispose();
                Interlocked.Increment(ref _dropped);
            });
    }

    /// <summary>First reconnect delay; doubles per consecutive failure up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest reconnect delay (the backoff's bound).</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long opening may take before the attempt counts as stalled (network streams can be slow to answer).</summary>
    public TimeSpan OpenTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The camera id.</summary>
    public string CameraId => _options.Id;

    /// <summary>Frames in capture order; completed when the loop ends. Empty in trigger mode.</summary>
    public ChannelReader<Frame> Frames => _channel.Reader;

    /// <summary>Counters and state now.</summary>
    public CaptureStats Stats
    {
        get
        {
            lock (_statsLock)
            {
                return new CaptureStats(
                    Interlocked.Read(ref _framesRead),
                    Interlocked.Read(ref _delivered),
                    Interlocked.Read(ref _dropped),
                    Interlocked.Read(ref _skipped),
                    Interlocked.Read(ref _reconnects),
                    _rate.Fps,
                    _state,
                    _lastError,
                    _width,
                    _height);
            }
        }
    }

    /// <summary>Raised on every state change, on the capture loop's own task (keep handlers short).</summary>
    public event EventHandler<SourceStateChanged>? StateChanged;

    /// <summary>A copy of the freshest frame (the caller disposes it), or null before the first frame.</summary>
    public Frame? TryGetLatest()
    {
        lock (_latestLock)
        {
            var latest = _latest;
            return latest is null
                ? null
                : new Frame(latest.CameraId, latest.Sequence, latest.Image.Clone(), latest.Source, latest.CapturedAt, latest.MonotonicTimestamp);
        }
    }

    /// <summary>Runs the loop until the stream ends or <paramref name="cancellationToken"/> fires; call once.</summary>
    public Task RunAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_running is not null)
        {
            throw new InvalidOperationException($"camera {_options.Id}: RunAsync was already called");
        }

        _running = RunCoreAsync(cancellationToken);
        return _running;
    }

    /// <summary>Stops the loop, then disposes the frames still queued and the latest frame.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        if (_running is not null)
        {
            await _running.ConfigureAwait(false);
        }

        lock (_latestLock)
        {
            _disposed = true;
            _latest?.Dispose();
            _latest = null;
        }

        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var frame))
        {
            frame.Dispose();
        }

        _disposing.Dispose();
    }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        var token = linked.Token;
        var failures = 0;
        var endReason = "stopped";
        try
        {
            while (!token.IsCancellationRequested)
            {
                SetState(_reconnects == 0 && failures == 0 ? SourceState.Connecting : SourceState.Reconnecting, null);
                IFrameSource source;
                try
                {
                    source = _createSource(_options.Source);
                }
                catch (SourceException ex)
                {
                    // A malformed URI or option does not heal by retrying.
                    lock (_statsLock)
                    {
                        _lastError = ex.Message;
                    }

                    LogOpenFailed(_logger, _options.Id, ex.Message);
                    endReason = ex.Message;
                    return;
                }

                _description = source.Description;
                var session = new ReaderSession(source, Deliver, _time);
                session.Start($"capture-{_options.Id}");
                var (end, message) = await session.WatchAsync(OpenTimeout, _options.StallTimeout, SetState, token).ConfigureAwait(false);
                if (end == SessionEnd.EndOfStream)
                {
                    var frames = Interlocked.Read(ref _framesRead);
                    LogEnded(_logger, _options.Id, _description, frames);
                    endReason = message ?? "end of stream";
                    return;
                }

                if (end == SessionEnd.Abandoned && token.IsCancellationRequested)
                {
                    return;
                }

                failures = session.Delivered > 0 ? 1 : failures + 1;
                await BackOffAsync(message, failures, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopping is the normal way out.
        }
        finally
        {
            SetState(SourceState.Ended, endReason);
            _channel.Writer.TryComplete();
        }
    }

    // After a failed or stalled session: waits the backoff for this many consecutive failures (a session that delivered
    // frames starts the count again), then counts the reconnect.
    private async Task BackOffAsync(string? message, int failures, CancellationToken token)
    {
        var delay = ReconnectBackoff.Delay(ReconnectMinDelay, ReconnectMaxDelay, failures);
        lock (_statsLock)
        {
            _lastError = message;
        }

        LogReopening(_logger, _options.Id, message, delay.TotalSeconds, failures);
        SetState(SourceState.Reconnecting, message);
        await Task.Delay(delay, _time, token).ConfigureAwait(false);
        Interlocked.Increment(ref _reconnects);
    }

    // Runs on the reader thread; takes ownership of image.
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "Deliver takes ownership of the image the reader session hands it.")]
    private void Deliver(Mat image)
    {
        var now = _time.GetTimestamp();
        var capturedAt = _time.GetUtcNow();
        var sequence = Interlocked.Increment(ref _sequence);
        Interlocked.Increment(ref _framesRead);
        lock (_statsLock)
        {
            _width = image.Cols;
            _height = image.Rows;
            _rate.Count(now);
        }

        if (!_fpsCap.Take(now))
        {
            image.Dispose();
            Interlocked.Increment(ref _skipped);
            return;
        }

        var frame = new Frame(_options.Id, sequence, _roi.Apply(image), _description, capturedAt, now);
        var trigger = _options.Trigger == TriggerMode.Trigger;
        lock (_latestLock)
        {
            if (_disposed)
            {
                frame.Dispose();
                return;
            }

            _latest?.Dispose();

            // Stream mode shares the pixels (a reference-counted header), so keeping the latest costs no copy.
            _latest = trigger ? frame : new Frame(frame.CameraId, frame.Sequence, new Mat(frame.Image, new Rect(0, 0, frame.Width, frame.Height)), frame.Source, frame.CapturedAt, frame.MonotonicTimestamp);
        }

        Interlocked.Increment(ref _delivered);
        if (!trigger && !_channel.Writer.TryWrite(frame))
        {
            frame.Dispose();
        }
    }

    private void SetState(SourceState state, string? reason)
    {
        SourceState previous;
        lock (_statsLock)
        {
            previous = _state;
            if (previous == state)
            {
                return;
            }

            _state = state;
        }

        var because = reason is null ? "" : $" ({reason})";
        LogStateChanged(_logger, _options.Id, previous, state, because);
        StateChanged?.Invoke(this, new SourceStateChanged(_options.Id, previous, state, reason, _time.GetUtcNow()));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "camera {Camera}: {Error}")]
    private static partial void LogOpenFailed(ILogger logger, string camera, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "camera {Camera}: {Source} ended after {Frames} frames")]
    private static partial void LogEnded(ILogger logger, string camera, string source, long frames);

    [LoggerMessage(Level = LogLevel.Warning, Message = "camera {Camera}: {Error}; reopening in {Delay:F1} s (attempt {Attempt})")]
    private static partial void LogReopening(ILogger logger, string camera, string? error, double delay, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "camera {Camera}: {Previous} -> {State}{Reason}")]
    private static partial void LogStateChanged(ILogger logger, string camera, SourceState previous, SourceState state, string reason);
}
