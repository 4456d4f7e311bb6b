using System.Globalization;
using Inspection.Config.Processes;

namespace Inspection.Daemon.Benchmarks;

/// <summary>The CPU time of every live thread of this process (<c>/proc/self/task/*</c>: its name from <c>comm</c>, its
/// CPU time from <c>schedstat</c>, exact to the nanosecond, or <c>stat</c>'s 10 ms ticks where the kernel has no
/// schedstat) and of the whole process, at one moment. Linux only; elsewhere empty.</summary>
internal sealed record ThreadTimes(IReadOnlyDictionary<int, (string Name, double CpuMs)> Threads, double ProcessCpuMs)
{
    public static ThreadTimes Read()
    {
        var threads = new Dictionary<int, (string, double)>();
        var process = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        if (!Directory.Exists("/proc/self/task"))
        {
            return new ThreadTimes(threads, process);
        }

        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            // A thread may end between listing and reading.
            if (int.TryParse(Path.GetFileName(task), CultureInfo.InvariantCulture, out var tid) && TryRead(task) is { } times)
            {
                threads[tid] = times;
            }
        }

        return new ThreadTimes(threads, process);
    }

    /// <summary>A thread's or process's name and CPU time from its /proc folder; null when it is gone.</summary>
    public static (string Name, double CpuMs)? TryRead(string folder)
    {
        try
        {
            var stat = ProcStat.Parse(File.ReadAllText(Path.Combine(folder, "stat")));
            var cpuMs = stat.CpuMs;
            var schedstat = Path.Combine(folder, "schedstat");
            if (File.Exists(schedstat))
            {
                cpuMs = long.Parse(File.ReadAllText(schedstat).Split(' ')[0], CultureInfo.InvariantCulture) / 1e6;
            }

            return (stat.Name, cpuMs);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Splits the process's CPU time over a window into what its threads do, grouped by thread name: the ONNX
/// Runtime workers (named by <see cref="Inference.ThreadName.OnnxWorkers"/> when the sessions were made), the capture
/// threads (each camera's reader, and FFmpeg's decoder threads, which FFmpeg 7 names "av:h264:df0" and so on), the thread
/// pool, the .NET runtime's own threads (background GC, JIT, finalizer), the bench's own threads, other threads, and
/// threads that ended inside the window (the process's total less its live threads').</summary>
internal static class ThreadGroups
{
    public const string Inspecting = "inspecting";
    public const string OnnxWorkers = "onnxruntime_workers";
    public const string Capture = "capture_decode";
    public const string ThreadPool = "thread_pool_rest";
    public const string Runtime = "dotnet_runtime";
    public const string Bench = "bench";
    public const string Other = "other";
    public const string Ended = "ended_threads";
    public const string Total = "total";

    /// <summary>The groups in report order. <see cref="Inspecting"/> is the CPU the pipeline's inspect calls used (the
    /// calling thread's share of the models' work, preprocessing, postprocessing), taken out of the thread pool's.</summary>
    public static readonly string[] Order = [Inspecting, OnnxWorkers, Capture, ThreadPool, Runtime, Bench, Other, Ended];

    /// <summary>The group a thread belongs to, by its name (Linux keeps the first 15 bytes).</summary>
    public static string Of(string name) => name switch
    {
        _ when name.StartsWith(Inference.ThreadName.OnnxWorkers, StringComparison.Ordinal) => OnnxWorkers,
        _ when name.StartsWith("capture-", StringComparison.Ordinal) || name.StartsWith("av:", StringComparison.Ordinal) => Capture,
        ".NET TP Worker" or ".NET Sockets" or ".NET Long Runni" => ThreadPool,
        _ when name.StartsWith(".NET", StringComparison.Ordinal) => Runtime,
        _ when name.StartsWith("bench-", StringComparison.Ordinal) => Bench,
        _ => Other,
    };

    /// <summary>Milliseconds of CPU per group between two readings; <paramref name="inspectingMs"/> (measured on the
    /// inspecting threads' own clocks) is moved from the thread pool into <see cref="Inspecting"/>. The groups add up
    /// to <see cref="Total"/>, the process's CPU time over the window.</summary>
    public static Dictionary<string, double> Split(ThreadTimes before, ThreadTimes after, double inspectingMs)
    {
        var groups = Order.ToDictionary(g => g, _ => 0.0);
        var live = 0.0;
        foreach (var (name, ms) in ByName(before, after))
        {
            groups[Of(name)] += ms;
            live += ms;
        }

        var total = after.ProcessCpuMs - before.ProcessCpuMs;
        groups[Ended] = Math.Max(0, total - live);
        var moved = Math.Min(inspectingMs, groups[ThreadPool]);
        groups[ThreadPool] -= moved;
        groups[Inspecting] = moved;
        groups[Total] = Math.Max(total, live);
        return groups;
    }

    /// <summary>Milliseconds of CPU per thread name between two readings, live threads only.</summary>
    public static Dictionary<string, double> ByName(ThreadTimes before, ThreadTimes after)
    {
        var names = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (tid, (name, cpu)) in after.Threads)
        {
            // A thread that started inside the window counts from zero; a reused id with less time is a new thread too.
            var start = before.Threads.TryGetValue(tid, out var b) && b.CpuMs <= cpu ? b.CpuMs : 0;
            names[name] = names.GetValueOrDefault(name) + (cpu - start);
        }

        return names;
    }
}

/// <summary>Reads <see cref="ThreadTimes"/> every <c>interval</c> on its own thread ("bench-threads") and remembers every
/// thread it saw, so a thread that ends inside a window (a camera's reader and decoders when its last frame is read)
/// keeps the CPU time it had at the last reading instead of vanishing into <see cref="ThreadGroups.Ended"/>.</summary>
internal sealed class ThreadWatch : IDisposable
{
    private readonly Dictionary<int, (string Name, double CpuMs)> _seen = [];
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread _thread;

    public ThreadWatch(TimeSpan interval)
    {
        _thread = new Thread(() =>
        {
            while (!_stop.Wait(interval))
            {
                Read();
            }
        }) { IsBackground = true, Name = "bench-threads" };
        _thread.Start();
    }

    /// <summary>The threads now, and those that ended since the watch started, with their last-seen CPU time.</summary>
    public ThreadTimes Read()
    {
        var now = ThreadTimes.Read();
        lock (_seen)
        {
            foreach (var (tid, times) in now.Threads)
            {
                _seen[tid] = times;
            }

            return new ThreadTimes(new Dictionary<int, (string, double)>(_seen), now.ProcessCpuMs);
        }
    }

    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _stop.Dispose();
    }
}

/// <summary>One reading of the CPU the bench looks at: this process's threads, its GC pause time, and the processes
/// outside it that serve it (an external broker, the observer).</summary>
internal sealed record CpuReading(ThreadTimes Threads, TimeSpan GcPause, IReadOnlyDictionary<string, double> Outside)
{
    public static CpuReading Take(ThreadWatch? watch, IReadOnlyDictionary<string, int>? outside = null) => new(
        watch?.Read() ?? ThreadTimes.Read(),
        GC.GetTotalPauseDuration(),
        (outside ?? new Dictionary<string, int>()).ToDictionary(p => p.Key, p => ThreadTimes.TryRead($"/proc/{p.Value}")?.CpuMs ?? 0));

    /// <summary>Per frame from <paramref name="start"/> to this reading: milliseconds of CPU by thread group (see
    /// <see cref="ThreadGroups"/>), the GC's pause time, and each outside process's CPU.</summary>
    public System.Text.Json.Nodes.JsonObject PerFrameSince(CpuReading start, double inspectingMs, long frames)
    {
        var json = new System.Text.Json.Nodes.JsonObject();
        if (frames <= 0)
        {
            return json;
        }

        foreach (var (group, ms) in ThreadGroups.Split(start.Threads, Threads, inspectingMs))
        {
            json[group] = Math.Round(ms / frames, 3);
        }

        json["gc_pause"] = Math.Round((GcPause - start.GcPause).TotalMilliseconds / frames, 3);
        var byName = new System.Text.Json.Nodes.JsonObject();
        foreach (var (name, ms) in ThreadGroups.ByName(start.Threads, Threads).Where(n => n.Value > 0).OrderByDescending(n => n.Value))
        {
            byName[name] = Math.Round(ms / frames, 3);
        }

        json["by_thread_name"] = byName;
        foreach (var (name, ms) in Outside)
        {
            json[name] = Math.Round((ms - start.Outside.GetValueOrDefault(name)) / frames, 3);
        }

        return json;
    }
}
