using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Inference.Postprocessing;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Daemon.Snapshots;

/// <summary>A frame (and its mask, if segmented) to save under the result's id. The writer disposes the images.</summary>
internal sealed class Snapshot(string id, Mat frame, Mat? mask) : IDisposable
{
    public string Id { get; } = id;

    public Mat Frame { get; } = frame;

    public Mat? Mask { get; } = mask;

    /// <summary>Set when the frame also goes to the review queue (why, and what the model said).</summary>
    public ReviewNote? Review { get; init; }

    /// <summary>The classifier's class activation map, for a defect frame whose classifier package has one: drawn as <c>{id}.explain.jpg</c>.</summary>
    public ClassActivationMap? Explain { get; init; }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "A snapshot owns the frame and mask copies it is made with.")]
    public void Dispose()
    {
        Frame.Dispose();
        Mask?.Dispose();
    }
}

/// <summary>A classifier's class activation map (h×w logits, row-major) and the input spec it was computed for.</summary>
internal sealed record ClassActivationMap(float[] Values, int Width, int Height, InputSpec Input);

/// <summary>Why a frame is kept for review, with what the model said about it.</summary>
internal sealed record ReviewNote(string Camera, double Score, double Threshold, DateTimeOffset CapturedAt, string Reason);

/// <summary>Writes <c>{id}.jpg</c> (the frame) and <c>{id}.mask.png</c> (the mask as a red overlay on the frame) off the
/// inspection path, and keeps the folder within <see cref="SnapshotsOptions.MaxCount"/>, <see cref="SnapshotsOptions.MaxBytes"/>
/// and <see cref="SnapshotsOptions.MaxAge"/> (oldest removed first). Disk errors are logged and counted; a failed write
/// (a full disk) removes what it left half-written and the oldest snapshot, so the next one has room. The pipeline
/// never waits for the disk (a full queue drops the snapshot, counted).</summary>
internal sealed partial class SnapshotWriter : DaemonWorker, IStatsSource
{
    public const string FrameSuffix = ".jpg";
    public const string MaskSuffix = ".mask.png";
    public const string ExplainSuffix = ".explain.jpg";
    private readonly SnapshotsOptions _options;
    private readonly TimeProvider _time;
    private readonly Channel<Snapshot> _queue;
    // Oldest first; a frame and its overlay are one entry, removed together.
    private readonly LinkedList<(string[] Paths, long Bytes, DateTimeOffset Written)> _snapshots = new();
    private long _bytes;
    private long _errors;
    private long _dropped;
    private long _written;

    public SnapshotWriter(SnapshotsOptions options, TimeProvider time, ILogger<SnapshotWriter> logger)
        : base(logger)
    {
        _options = options;
        _time = time;
        _queue = Channel.CreateBounded<Snapshot>(new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true }, s =>
        {
            Interlocked.Increment(ref _dropped);
            s.Dispose();
        });
    }

    public bool Enabled => _options.Directory.Length > 0;

    public long Errors => Interlocked.Read(ref _errors);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Written => Interlocked.Read(ref _written);

    /// <summary><c>snapshots_written</c>, <c>snapshot_errors</c>, <c>snapshots_dropped</c>.</summary>
    public void AddStats(JsonObject stats)
    {
        stats["snapshots_written"] = Written;
        stats["snapshot_errors"] = Errors;
        stats["snapshots_dropped"] = Dropped;
    }

    /// <summary>A snapshot's files are on disk: the snapshot (not yet disposed) and the full paths (frame first).</summary>
    public event Action<Snapshot, IReadOnlyList<string>>? Saved;

    /// <summary>Why a frame with this score and threshold should also be reviewed (null: it need not be); set by the
    /// review queue.</summary>
    public Func<double, double, string?> ReviewReason { get; set; } = (_, _) => null;

    /// <summary>A snapshot (by result id) is about to be deleted by retention; raised before its files go, so an index
    /// never points at a deleted file.</summary>
    public event Action<string>? Removing;

    /// <summary>The result id a snapshot file belongs to: its name up to the first dot.</summary>
    public static string IdOf(string path) => Path.GetFileName(path).Split('.')[0];

    /// <summary>Whether a good (non-defect) frame should be kept as a sample.</summary>
    public bool SampleGood() => Enabled && _options.GoodSampleRate > 0 && Random.Shared.NextDouble() < _options.GoodSampleRate;

    /// <summary>Queues a snapshot; returns the mask overlay's file name (for the result's <c>mask</c> field), or null.</summary>
    public string? Enqueue(Snapshot snapshot) => TryEnqueue(snapshot) && snapshot.Mask is not null ? snapshot.Id + MaskSuffix : null;

    /// <summary>Queues a snapshot; false (and the snapshot disposed) when snapshots are off or the queue is full.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "TryEnqueue takes the snapshot: the writer disposes it once written, or here when it refuses it.")]
    public bool TryEnqueue(Snapshot snapshot)
    {
        if (!Enabled || !_queue.Writer.TryWrite(snapshot))
        {
            snapshot.Dispose();
            return false;
        }

        return true;
    }

    /// <summary>No more snapshots; the queue is written out and the worker stops.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (Enabled)
        {
            LoadExisting();
        }

        await foreach (var snapshot in _queue.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            using (snapshot)
            {
                Write(snapshot);
            }
        }
    }

    private void Write(Snapshot snapshot)
    {
        var paths = new List<string>();
        try
        {
            Directory.CreateDirectory(_options.Directory);
            var framePath = Path.Combine(_options.Directory, snapshot.Id + FrameSuffix);
            paths.Add(framePath);
            var bytes = Save(framePath, snapshot.Frame, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            if (snapshot.Mask is not null)
            {
                using var overlay = Overlay(snapshot.Frame, snapshot.Mask);
                var maskPath = Path.Combine(_options.Directory, snapshot.Id + MaskSuffix);
                paths.Add(maskPath);
                bytes += Save(maskPath, overlay);
            }

            if (snapshot.Explain is { } cam)
            {
                using var heat = HeatMap.Overlay(snapshot.Frame, cam.Values, cam.Width, cam.Height, cam.Input);
                var explainPath = Path.Combine(_options.Directory, snapshot.Id + ExplainSuffix);
                paths.Add(explainPath);
                bytes += Save(explainPath, heat, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
            }

            Track([.. paths], bytes, _time.GetUtcNow());
            Interlocked.Increment(ref _written);
            Saved?.Invoke(snapshot, paths);
            EnforceRetention();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OpenCVException)
        {
            Interlocked.Increment(ref _errors);
            LogWriteFailed(Logger, snapshot.Id, _options.Directory, ex.Message);

            // A full disk leaves the files cut short: remove them, and the oldest snapshot, so the next one has room.
            paths.ForEach(Delete);
            if (_snapshots.Count > 0)
            {
                RemoveOldest();
            }

            EnforceRetention();
        }
    }

    private static long Save(string path, Mat image, params ImageEncodingParam[] parameters)
    {
        Cv2.ImEncode(Path.GetExtension(path), image, out var bytes, parameters);
        File.WriteAllBytes(path, bytes);
        return bytes.Length;
    }

    private void Track(string[] paths, long bytes, DateTimeOffset written)
    {
        _snapshots.AddLast((paths, bytes, written));
        _bytes += bytes;
    }

    private static Mat Overlay(Mat frame, Mat mask)
    {
        var colour = new Mat();
        if (frame.Channels() == 1)
        {
            Cv2.CvtColor(frame, colour, ColorConversionCodes.GRAY2BGR);
        }
        else
        {
            frame.CopyTo(colour);
        }

        using var scaled = new Mat();
        Cv2.Resize(mask, scaled, colour.Size(), 0, 0, InterpolationFlags.Nearest);
        using var red = new Mat(colour.Size(), colour.Type(), new Scalar(0, 0, 255));
        using var blended = new Mat();
        Cv2.AddWeighted(colour, 0.5, red, 0.5, 0, blended);
        blended.CopyTo(colour, scaled);
        return colour;
    }

    private void LoadExisting()
    {
        if (!Directory.Exists(_options.Directory))
        {
            return;
        }

        var files = new DirectoryInfo(_options.Directory).EnumerateFiles()
            .Select(f => (File: f, Id: f.Name.EndsWith(MaskSuffix, StringComparison.Ordinal) ? f.Name[..^MaskSuffix.Length]
                : f.Name.EndsWith(FrameSuffix, StringComparison.Ordinal) ? f.Name[..^FrameSuffix.Length] : null))
            .Where(f => f.Id is not null);
        foreach (var snapshot in files.GroupBy(f => f.Id).OrderBy(g => g.Max(f => f.File.LastWriteTimeUtc)))
        {
            Track([.. snapshot.Select(f => f.File.FullName)], snapshot.Sum(f => f.File.Length), snapshot.Max(f => f.File.LastWriteTimeUtc));
        }

        EnforceRetention();
    }

    private void EnforceRetention()
    {
        var oldest = _time.GetUtcNow() - _options.MaxAge;
        while (_snapshots.First is { } first && (_snapshots.Count > _options.MaxCount || _bytes > _options.MaxBytes || first.Value.Written < oldest))
        {
            RemoveOldest();
        }
    }

    private void RemoveOldest()
    {
        var oldest = _snapshots.First!.Value;
        _snapshots.RemoveFirst();
        _bytes -= oldest.Bytes;
        Removing?.Invoke(IdOf(oldest.Paths[0]));
        foreach (var path in oldest.Paths)
        {
            Delete(path);
        }
    }

    private void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _errors);
            LogDeleteFailed(Logger, path, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "snapshot {Id} not saved in {Directory}: {Error}; inspection goes on")]
    private static partial void LogWriteFailed(ILogger logger, string id, string directory, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot remove old snapshot {Path}: {Error}")]
    private static partial void LogDeleteFailed(ILogger logger, string path, string error);
}
