using System.Diagnostics;
using Inspection.Camera.Sources;
using OpenCvSharp;

namespace Inspection.Daemon.Benchmarks;

/// <summary>Wraps a camera source for the benchmark: a frame is read only when the inspector has room for it, so the
/// capture loop never drops a frame it spent time decoding (the daemon's drop-oldest queue would, with a source faster
/// than the models), and the time spent reading each frame is queued, in reading order, for the lane to take with the
/// frame (<see cref="TakeDecodeMs"/>). Ends after <paramref name="limit"/>() frames (it may change while reading) or
/// when <paramref name="stop"/> fires.</summary>
internal sealed class ConsumerPacedSource(IFrameSource inner, SemaphoreSlim room, Func<long> limit, CancellationToken stop) : IFrameSource
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<double> _decodeMs = new();
    private long _read;

    public string Description => inner.Description;

    public bool EndOfStream => inner.EndOfStream || Interlocked.Read(ref _read) >= limit() || stop.IsCancellationRequested;

    /// <summary>The decode time of the oldest frame read and not yet taken (frames are taken in reading order).</summary>
    public double TakeDecodeMs() => _decodeMs.TryDequeue(out var ms) ? ms : double.NaN;

    public void Open() => inner.Open();

    public bool Read(Mat destination)
    {
        if (Interlocked.Read(ref _read) >= limit())
        {
            return false;
        }

        try
        {
            room.Wait(stop);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        var start = Stopwatch.GetTimestamp();
        if (!inner.Read(destination))
        {
            room.Release();
            return false;
        }

        _decodeMs.Enqueue(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        Interlocked.Increment(ref _read);
        return true;
    }

    public void Dispose() => inner.Dispose();

    /// <summary>The camera's URI with its real-time pacing switched off (synthetic fps=0, files decoded flat out and
    /// looped, image folders unpaced and looped); other options are kept.</summary>
    public static string Unpaced(string uri)
    {
        var parsed = SourceUri.Parse(uri);
        var settings = parsed.Scheme switch
        {
            "synthetic" => new Dictionary<string, string> { ["fps"] = "0", ["frames"] = "0" },
            "file" => new Dictionary<string, string> { ["realtime"] = "false", ["loop"] = "true" },
            "dir" => new Dictionary<string, string> { ["fps"] = "0", ["loop"] = "true" },
            _ => [],
        };
        if (settings.Count == 0)
        {
            return uri;
        }

        var question = uri.IndexOf('?', StringComparison.Ordinal);
        var path = question < 0 ? uri : uri[..question];
        var pairs = question < 0 ? [] : uri[(question + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries).ToList();
        pairs.RemoveAll(p => settings.ContainsKey(p.Split('=')[0].ToLowerInvariant()));
        pairs.AddRange(settings.Select(s => $"{s.Key}={s.Value}"));
        return $"{path}?{string.Join('&', pairs)}";
    }
}
