using System.Diagnostics.CodeAnalysis;
using Inspection.Camera.Sources;
using OpenCvSharp;

namespace Inspection.Camera.Capture;

/// <summary>How a reader session finished.</summary>
internal enum SessionEnd
{
    /// <summary>The source said its stream is over.</summary>
    EndOfStream,

    /// <summary>Open or read failed; reopening may help.</summary>
    Failed,

    /// <summary>The capture loop gave up on it (stall, cancellation).</summary>
    Abandoned,
}

/// <summary>
/// One opened source on its own thread: opens, reads and disposes it there, so a read that blocks in native code
/// (a dead RTSP server, a wedged USB camera) never blocks the capture loop. When the loop abandons a session, the
/// thread disposes the source as soon as the blocked call returns, and delivers nothing more. The loop watches it with
/// <see cref="WatchAsync"/>: open and stall timeouts, and how it ended.
/// </summary>
internal sealed class ReaderSession
{
    private readonly IFrameSource _source;
    private readonly Action<Mat> _deliver;
    private readonly TimeProvider _time;
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<(SessionEnd End, string? Message)> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastProgress;
    private long _delivered;
    private volatile bool _abandoned;

    public ReaderSession(IFrameSource source, Action<Mat> deliver, TimeProvider time)
    {
        _source = source;
        _deliver = deliver;
        _time = time;
        _lastProgress = time.GetTimestamp();
    }

    public Task Opened => _opened.Task;

    public Task<(SessionEnd End, string? Message)> Completed => _completed.Task;

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the open or the last frame.</summary>
    public long LastProgress => Interlocked.Read(ref _lastProgress);

    public long Delivered => Interlocked.Read(ref _delivered);

    public void Start(string name) => new Thread(Run) { IsBackground = true, Name = name }.Start();

    /// <summary>Waits on the started session from the capture loop: <paramref name="stateChanged"/> hears Connected when
    /// it opens, and Stalled when it does not open within <paramref name="openTimeout"/> or no frame comes within
    /// <paramref name="stallTimeout"/> (the session is then abandoned, and counts as failed); cancellation abandons it too.
    /// Returns how it ended.</summary>
    public async Task<(SessionEnd End, string? Message)> WatchAsync(TimeSpan openTimeout, TimeSpan stallTimeout, Action<SourceState, string> stateChanged, CancellationToken token)
    {
        var connected = false;
        while (true)
        {
            var limit = connected ? stallTimeout : openTimeout;
            var remaining = limit - _time.GetElapsedTime(LastProgress);
            if (remaining <= TimeSpan.Zero)
            {
                Abandon();
                var reason = connected
                    ? $"{_source.Description}: no frame for {limit.TotalSeconds:0.#} s"
                    : $"{_source.Description}: did not open within {limit.TotalSeconds:0.#} s";
                stateChanged(SourceState.Stalled, reason);
                return (SessionEnd.Failed, reason);
            }

            using var wake = CancellationTokenSource.CreateLinkedTokenSource(token);
            var timer = Task.Delay(remaining, _time, wake.Token);
            Task next = connected ? Completed : Task.WhenAny(Completed, Opened);
            await Task.WhenAny(next, timer).ConfigureAwait(false);
            await wake.CancelAsync().ConfigureAwait(false);

            if (token.IsCancellationRequested)
            {
                Abandon();
                return (SessionEnd.Abandoned, null);
            }

            // A short stream may open and end between two wake-ups: it was still connected in between.
            if (!connected && Opened.IsCompleted)
            {
                connected = true;
                stateChanged(SourceState.Connected, _source.Description);
            }

            if (Completed.IsCompleted)
            {
                return await Completed.ConfigureAwait(false);
            }
        }
    }

    public void Abandon()
    {
        _abandoned = true;
        (_source as IInterruptibleSource)?.Interrupt();
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "The session owns the source it is given: it opens, reads and disposes it on its own thread.")]
    private void Run()
    {
        var end = (SessionEnd.Abandoned, (string?)null);
        try
        {
            _source.Open();
            Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
            _opened.TrySetResult();
            end = ReadUntilDone();
        }
        catch (Exception ex) when (ex is SourceException)
        {
            end = (SessionEnd.Failed, ex.Message);
        }
        catch (Exception ex)
        {
            // OpenCV and decoders throw their own types; any of them means "this session is broken, reopen".
            end = (SessionEnd.Failed, $"{_source.Description}: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            _source.Dispose();
            _completed.TrySetResult(_abandoned ? (SessionEnd.Abandoned, null) : end);
        }
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "Each read image is disposed here or handed to the deliver callback, which takes ownership.")]
    private (SessionEnd, string?) ReadUntilDone()
    {
        while (!_abandoned)
        {
            var image = new Mat();
            bool ok;
            try
            {
                ok = _source.Read(image);
            }
            catch
            {
                image.Dispose();
                throw;
            }

            if (_abandoned || !ok || image.Empty())
            {
                image.Dispose();
                if (_abandoned)
                {
                    break;
                }

                return _source.EndOfStream
                    ? (SessionEnd.EndOfStream, $"{_source.Description}: end of stream")
                    : (SessionEnd.Failed, $"{_source.Description}: read failed (stream lost, or an empty or corrupt frame)");
            }

            Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
            Interlocked.Increment(ref _delivered);
            _deliver(image);
        }

        return (SessionEnd.Abandoned, null);
    }
}
