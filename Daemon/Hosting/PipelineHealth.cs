namespace Inspection.Daemon.Hosting;

/// <summary>
/// Whether the inspection pipeline is making progress, for the systemd watchdog (one instance per daemon, a DI
/// singleton; every member is thread-safe).
/// <para>
/// "Progress" is defined so that a hung pipeline is restarted but an idle one is left alone:
/// the pipeline is <b>stalled</b> when it has work (a frame or result waiting in a queue, or an item being processed)
/// and has finished nothing for longer than the stall limit, or when a registered loop (e.g. a capture loop that never
/// waits unboundedly) has not beaten within it. It is <b>healthy</b> when it keeps finishing work, when it has nothing
/// to do (trigger-mode cameras waiting for requests, a camera that delivers no frames while its loop keeps
/// reconnecting), and while it is paused.
/// </para>
/// Wiring: the inspector calls <see cref="MarkProgress"/> after each inspected frame, the publisher after each result
/// published or stored in the outbox; whoever processes an item wraps it in <see cref="BeginWork"/>; queues are
/// reported with <see cref="AddPendingSource"/> (e.g. <c>() =&gt; channel.Reader.Count</c>); the pause/resume commands
/// set <see cref="Paused"/>.
/// </summary>
public sealed class PipelineHealth
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<(string Name, Func<int> Count)> _pendingSources = [];
    private readonly List<Heartbeat> _loops = [];
    private long _lastProgressTicks;
    private long _progressCount;
    private int _inFlight;
    private long _busySinceTicks;
    private long _workSeenSinceTicks = -1;
    private volatile bool _paused;

    /// <summary>Creates the tracker; the clock starts as if progress had just been made.</summary>
    public PipelineHealth(TimeProvider time)
    {
        _time = time;
        _lastProgressTicks = time.GetUtcNow().UtcTicks;
    }

    /// <summary>When the pipeline last finished a unit of work (or when it was created).</summary>
    public DateTimeOffset LastProgress => new(Interlocked.Read(ref _lastProgressTicks), TimeSpan.Zero);

    /// <summary>Units of work finished since start.</summary>
    public long ProgressCount => Interlocked.Read(ref _progressCount);

    /// <summary>Set by the pause/resume commands: a paused pipeline is healthy whatever its queues hold.</summary>
    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    /// <summary>A one-line detail for the systemd STATUS= (cameras up, provider, broker), set by the daemon; may be null.</summary>
    public Func<string>? Detail { get; set; }

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

    /// <summary>
    /// Registers a loop that must beat at least once per stall limit while it runs (a capture loop beats per frame
    /// and per reconnect attempt). Only for loops that never wait unboundedly; dispose the heartbeat when the loop ends.
    /// </summary>
    public Heartbeat RegisterLoop(string name)
    {
        var heartbeat = new Heartbeat(this, name);
        lock (_lock)
        {
            _loops.Add(heartbeat);
        }

        return heartbeat;
    }

    /// <summary>Judges the pipeline now. A stall is counted from the later of the last progress, the moment work began,
    /// and the first check that saw work waiting, so work arriving after a long idle spell gets a full stall limit.</summary>
    public HealthReport Check(TimeSpan stallLimit)
    {
        var now = _time.GetUtcNow();
        var pending = 0;
        var silentLoops = new List<string>();
        lock (_lock)
        {
            foreach (var (_, count) in _pendingSources)
            {
                pending += Math.Max(0, count());
            }

            foreach (var loop in _loops)
            {
                var silentFor = now - loop.LastBeat;
                if (silentFor > stallLimit)
                {
                    silentLoops.Add($"{loop.Name} silent {silentFor.TotalSeconds:0}s");
                }
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

        var idleFor = now - LastProgress;
        var stallClockStart = Math.Max(Interlocked.Read(ref _lastProgressTicks),
            Math.Max(Interlocked.Read(ref _workSeenSinceTicks), inFlight > 0 ? Interlocked.Read(ref _busySinceTicks) : 0));
        var stuckFor = now - new DateTimeOffset(stallClockStart, TimeSpan.Zero);

        HealthState state;
        string summary;
        if (Paused)
        {
            (state, summary) = (HealthState.Paused, "paused");
        }
        else if (silentLoops.Count > 0)
        {
            (state, summary) = (HealthState.Stalled, $"stalled: {string.Join(", ", silentLoops)}");
        }
        else if (hasWork && stuckFor > stallLimit)
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

        var detail = Detail?.Invoke();
        var text = $"{summary}; {ProgressCount} done, last {FormatAgo(idleFor)}" + (string.IsNullOrEmpty(detail) ? "" : $"; {detail}");
        return new HealthReport(state, text);
    }

    private static string FormatAgo(TimeSpan span) => span < TimeSpan.FromSeconds(1) ? "just now"
        : span < TimeSpan.FromMinutes(2) ? $"{span.TotalSeconds:0}s ago"
        : span < TimeSpan.FromHours(2) ? $"{span.TotalMinutes:0}min ago"
        : $"{span.TotalHours:0}h ago";

    private void EndWork() => Interlocked.Decrement(ref _inFlight);

    private void Unregister(Heartbeat heartbeat)
    {
        lock (_lock)
        {
            _loops.Remove(heartbeat);
        }
    }

    /// <summary>An item in flight; disposing it ends the work (it does not count as progress by itself).</summary>
    public readonly struct WorkScope(PipelineHealth owner) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => owner.EndWork();
    }

    /// <summary>A registered loop's beat; see <see cref="RegisterLoop"/>.</summary>
    public sealed class Heartbeat : IDisposable
    {
        private readonly PipelineHealth _owner;
        private long _lastBeatTicks;

        internal Heartbeat(PipelineHealth owner, string name)
        {
            _owner = owner;
            Name = name;
            Beat();
        }

        /// <summary>The loop's name, shown in STATUS= when it falls silent.</summary>
        public string Name { get; }

        /// <summary>When the loop last beat.</summary>
        public DateTimeOffset LastBeat => new(Interlocked.Read(ref _lastBeatTicks), TimeSpan.Zero);

        /// <summary>The loop is alive (went round once: a frame read, a reconnect attempt).</summary>
        public void Beat() => Interlocked.Exchange(ref _lastBeatTicks, _owner._time.GetUtcNow().UtcTicks);

        /// <summary>The loop has ended; it is no longer watched.</summary>
        public void Dispose() => _owner.Unregister(this);
    }
}

/// <summary>The pipeline's state as the watchdog sees it.</summary>
public enum HealthState
{
    /// <summary>Work is waiting and being finished.</summary>
    Working,

    /// <summary>Nothing to do (trigger-mode cameras waiting, no frames arriving); healthy.</summary>
    Idle,

    /// <summary>Paused by command; healthy.</summary>
    Paused,

    /// <summary>Work is waiting but nothing finished within the stall limit, or a registered loop fell silent.</summary>
    Stalled,
}

/// <summary>One judgement: the state and a one-line summary for STATUS=.</summary>
public sealed record HealthReport(HealthState State, string Summary)
{
    /// <summary>True unless stalled: the watchdog keeps pinging.</summary>
    public bool Healthy => State != HealthState.Stalled;
}
