namespace Inspection.Daemon.Hosting;

/// <summary>
/// Whether the inspection pipeline is making progress, for the systemd watchdog (one instance per daemon, a DI
/// singleton; every member is thread-safe).
/// <para>
/// "Progress" is defined so that a hung pipeline is restarted but an idle one is left alone:
/// the pipeline is <b>stalled</b> when it has work (a frame or result waiting in a queue, or an item being processed)
/// and has finished nothing for longer than the stall limit. It is <b>healthy</b> when it keeps finishing work and when
/// it has nothing to do (trigger-mode cameras waiting for requests, a camera that delivers no frames while its loop
/// keeps reconnecting). A paused camera stays healthy: its frames are still taken off the queue (skipped, which counts
/// as handled).
/// </para>
/// Wiring: the camera pipeline calls <see cref="MarkProgress"/> after each frame it handled, the publisher after each
/// window of results published or stored in the outbox; whoever processes an item wraps it in <see cref="BeginWork"/>;
/// queues are reported with <see cref="AddPendingSource"/> (e.g. <c>() =&gt; channel.Reader.Count</c>).
/// </summary>
internal sealed class PipelineHealth
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<(string Name, Func<int> Count)> _pendingSources = [];
    private long _lastProgressTicks;
    private long _progressCount;
    private int _inFlight;
    private long _busySinceTicks;
    private long _workSeenSinceTicks = -1;

    /// <summary>Creates the tracker; the clock starts as if progress had just been made.</summary>
    public PipelineHealth(TimeProvider time)
    {
        _time = time;
        _lastProgressTicks = time.GetUtcNow().UtcTicks;
    }

    /// <summary>A unit of work was finished: a frame inspected, a result published or written to the outbox.</summary>
    public void MarkProgress()
    {
        Interlocked.Exchange(ref _lastProgressTicks, _time.GetUtcNow().UtcTicks);
        Interlocked.Increment(ref _progressCount);
    }

    /// <summary>Marks an item as being processed until the scope is disposed (in-flight work counts as pending).</summary>
    public WorkScope BeginWork()
    {
        if (Interlocked.Increment(ref _inFlight) == 1)
        {
            Interlocked.Exchange(ref _busySinceTicks, _time.GetUtcNow().UtcTicks);
        }

        return new WorkScope(this);
    }

    /// <summary>Reports a queue whose items count as work waiting (called once per queue at start).</summary>
    public void AddPendingSource(string name, Func<int> count)
    {
        lock (_lock)
        {
            _pendingSources.Add((name, count));
        }
    }

    /// <summary>Judges the pipeline now. A stall is counted from the later of the last progress, the moment work began,
    /// and the first check that saw work waiting, so work arriving after a long idle spell gets a full stall limit.</summary>
    public HealthReport Check(TimeSpan stallLimit)
    {
        var now = _time.GetUtcNow();
        var pending = 0;
        lock (_lock)
        {
            foreach (var (_, count) in _pendingSources)
            {
                pending += Math.Max(0, count());
            }
        }

        var inFlight = Volatile.Read(ref _inFlight);
        var hasWork = pending > 0 || inFlight > 0;
        if (!hasWork)
        {
            Interlocked.Exchange(ref _workSeenSinceTicks, -1);
        }
        else
        {
            Interlocked.CompareExchange(ref _workSeenSinceTicks, now.UtcTicks, -1);
        }

        var lastProgress = Interlocked.Read(ref _lastProgressTicks);
        var idleFor = now - new DateTimeOffset(lastProgress, TimeSpan.Zero);
        var stallClockStart = Math.Max(lastProgress,
            Math.Max(Interlocked.Read(ref _workSeenSinceTicks), inFlight > 0 ? Interlocked.Read(ref _busySinceTicks) : 0));
        var stuckFor = now - new DateTimeOffset(stallClockStart, TimeSpan.Zero);

        HealthState state;
        string summary;
        if (hasWork && stuckFor > stallLimit)
        {
            (state, summary) = (HealthState.Stalled, $"stalled: {pending} queued, {inFlight} in flight, nothing finished for {stuckFor.TotalSeconds:0}s");
        }
        else if (hasWork)
        {
            (state, summary) = (HealthState.Working, "inspecting");
        }
        else
        {
            (state, summary) = (HealthState.Idle, "idle, waiting for frames or requests");
        }

        return new HealthReport(state, $"{summary}; {Interlocked.Read(ref _progressCount)} done, last {FormatAgo(idleFor)}");
    }

    private static string FormatAgo(TimeSpan span) => span < TimeSpan.FromSeconds(1) ? "just now"
        : span < TimeSpan.FromMinutes(2) ? $"{span.TotalSeconds:0}s ago"
        : span < TimeSpan.FromHours(2) ? $"{span.TotalMinutes:0}min ago"
        : $"{span.TotalHours:0}h ago";

    private void EndWork() => Interlocked.Decrement(ref _inFlight);

    /// <summary>An item in flight; disposing it ends the work (it does not count as progress by itself).</summary>
    public readonly struct WorkScope(PipelineHealth owner) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => owner.EndWork();
    }
}

/// <summary>The pipeline's state as the watchdog sees it.</summary>
internal enum HealthState
{
    /// <summary>Work is waiting and being finished.</summary>
    Working,

    /// <summary>Nothing to do (trigger-mode cameras waiting, no frames arriving); healthy.</summary>
    Idle,

    /// <summary>Work is waiting but nothing finished within the stall limit.</summary>
    Stalled,
}

/// <summary>One judgement: the state and a one-line summary for STATUS=.</summary>
internal sealed record HealthReport(HealthState State, string Summary)
{
    /// <summary>True unless stalled: the watchdog keeps pinging.</summary>
    public bool Healthy => State != HealthState.Stalled;
}
