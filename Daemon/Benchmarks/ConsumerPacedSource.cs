using System.Collections.Concurrent;
using System.Diagnostics;
using Inspection.Camera.Sources;
using OpenCvSharp;

namespace Inspection.Daemon.Benchmarks;

/// <summary>Opens the camera source <paramref name="uri"/> names, for the benchmark: a frame is read only when the inspector has room for it, so the
/// capture loop never drops a frame it spent time decoding (the daemon's drop-oldest queue would, with a source faster
/// than the models), and the time spent reading each frame is added, in reading order, to <paramref name="decodeMs"/>
/// for the lane to take with the frame (the lane's queue, so the order holds across a reconnect's fresh source). Ends after <paramref name="limit"/>() frames (it may change while reading) or when <paramref name="stop"/>
/// fires.</summary>
internal sealed class ConsumerPacedSource(string uri, SemaphoreSlim room, Func<long> limit, ConcurrentQueue<double> decodeMs, CancellationToken stop) : IFrameSource
{
    private readonly IFrameSource _inner = FrameSourceFactory.Create(uri);
    private long _read;

    public string Description => _inner.Description;

    public bool EndOfStream => _inner.EndOfStream || Interlocked.Read(ref _read) >= limit() || stop.IsCancellationRequested;

    public void Open() => _inner.Open();

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
        if (!_inner.Read(destination))
        {
            room.Release();
            return false;
        }

        decodeMs.Enqueue(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        Interlocked.Increment(ref _read);
        return true;
    }

    public void Dispose() => _inner.Dispose();

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
