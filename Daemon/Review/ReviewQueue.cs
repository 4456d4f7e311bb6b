using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.History;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Daemon.Review;

/// <summary>Frames an operator should label: the ones the model was unsure about (score within <c>Review:Band</c> of the
/// threshold), a <c>Review:ConfidentSampleRate</c> share of the others, and every frame flagged from the page. Each waits in
/// <c>Review:Directory</c> as <c>{id}.jpg</c> plus <c>{id}.json</c> (camera, score, threshold, why). A label moves the
/// frame to <c>{Review:DatasetDirectory}/good|defect/review-{id}.jpg</c>, the layout <c>trainer classify --data</c> reads
/// (the <c>review-</c> prefix lets the trainer count reviewed images).</summary>
internal sealed partial class ReviewQueue
{
    public static readonly IReadOnlyList<string> Labels = ["good", "defect"];
    private readonly ReviewOptions _options;
    private readonly SnapshotsOptions _snapshots;
    private readonly ResultHistory _history;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private int _count;

    public ReviewQueue(InspectionOptions options, SnapshotWriter snapshots, ResultHistory history, ILogger<ReviewQueue> logger)
    {
        _options = options.Review;
        _snapshots = options.Snapshots;
        _history = history;
        _logger = logger;
        if (!Enabled)
        {
            return;
        }

        _count = Directory.Exists(_options.Directory) ? Directory.EnumerateFiles(_options.Directory, "*.jpg").Count() : 0;
        snapshots.ReviewReason = Reason;
        snapshots.Saved += (snapshot, paths) =>
        {
            if (snapshot.Review is { } note)
            {
                Keep(snapshot.Id, paths[0], note);
            }
        };
    }

    public bool Enabled => _options.Directory.Length > 0;

    /// <summary>Frames waiting for a label (counted at start, then kept up to date; asked for on every uncertain frame).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Why a result with this score should be reviewed, or null. Uncertain frames are not kept while the queue is full.</summary>
    public string? Reason(double score, double threshold)
    {
        if (Math.Abs(score - threshold) <= _options.Band)
        {
            return Count < _options.MaxCount ? "uncertain" : null;
        }

        return _options.ConfidentSampleRate > 0 && Random.Shared.NextDouble() < _options.ConfidentSampleRate && Count < _options.MaxCount ? "sampled" : null;
    }

    /// <summary>Queues a result's saved snapshot frame (operator flag from the page); returns the review id or null when
    /// the result or its frame is gone.</summary>
    public string? FlagResult(string id)
    {
        if (!Enabled || _history.Find(id) is not { Snapshot: { } frame } row)
        {
            return null;
        }

        var path = Path.Combine(_snapshots.Directory, frame);
        return File.Exists(path) ? Keep(id, path, new ReviewNote(row.Camera, row.Score, row.Threshold, row.CapturedAt, "flagged")) : null;
    }

    /// <summary>Queues a live frame the operator flagged; returns its review id.</summary>
    public string? FlagFrame(string camera, Mat image, DateTimeOffset capturedAt)
    {
        if (!Enabled)
        {
            return null;
        }

        var id = Guid.CreateVersion7().ToString("N");
        Directory.CreateDirectory(_options.Directory);
        Cv2.ImWrite(Path.Combine(_options.Directory, id + ".jpg"), image, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
        WriteNote(id, new ReviewNote(camera, double.NaN, double.NaN, capturedAt, "flagged"));
        Interlocked.Increment(ref _count);
        return id;
    }

    private string? Keep(string id, string framePath, ReviewNote note)
    {
        try
        {
            Directory.CreateDirectory(_options.Directory);
            var target = Path.Combine(_options.Directory, id + ".jpg");
            var added = !File.Exists(target);
            File.Copy(framePath, target, overwrite: true);
            WriteNote(id, note);
            if (added)
            {
                Interlocked.Increment(ref _count);
            }

            return id;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogKeepFailed(_logger, id, _options.Directory, ex.Message);
            return null;
        }
    }

    private void WriteNote(string id, ReviewNote note)
    {
        var json = new JsonObject
        {
            ["id"] = id,
            ["camera"] = note.Camera,
            ["score"] = double.IsNaN(note.Score) ? null : note.Score,
            ["threshold"] = double.IsNaN(note.Threshold) ? null : note.Threshold,
            ["captured_at"] = note.CapturedAt.UtcDateTime.ToString("O"),
            ["reason"] = note.Reason,
        };
        File.WriteAllText(Path.Combine(_options.Directory, id + ".json"), json.ToJsonString());
    }

    /// <summary>The oldest <paramref name="limit"/> waiting frames, each with its note and the frame's file name.</summary>
    public JsonArray List(int limit = int.MaxValue)
    {
        var list = new JsonArray();
        if (!Enabled || !Directory.Exists(_options.Directory))
        {
            return list;
        }

        foreach (var frame in new DirectoryInfo(_options.Directory).EnumerateFiles("*.jpg").OrderBy(f => f.Name, StringComparer.Ordinal).Take(limit))
        {
            var id = Path.GetFileNameWithoutExtension(frame.Name);
            var notePath = Path.Combine(_options.Directory, id + ".json");
            var note = File.Exists(notePath) ? JsonNode.Parse(File.ReadAllText(notePath)) as JsonObject : null;
            note ??= new JsonObject { ["id"] = id };
            note["frame"] = frame.Name;
            list.Add(note);
        }

        return list;
    }

    /// <summary>Moves a waiting frame into the dataset under <paramref name="label"/>; returns its new path, or null when
    /// there is no such frame. An unknown label throws <see cref="ArgumentException"/> naming it.</summary>
    public string? Label(string id, string label)
    {
        if (!Labels.Contains(label))
        {
            throw new ArgumentException($"label '{label}' is not one of {string.Join(", ", Labels)}", nameof(label));
        }

        if (!Enabled || id.Contains('/', StringComparison.Ordinal) || id.Contains('.', StringComparison.Ordinal))
        {
            return null;
        }

        lock (_gate)
        {
            var source = Path.Combine(_options.Directory, id + ".jpg");
            if (!File.Exists(source))
            {
                return null;
            }

            var folder = Path.Combine(_options.DatasetDirectory, label);
            Directory.CreateDirectory(folder);
            var target = Path.Combine(folder, ReviewOptions.DatasetPrefix + id + ".jpg");
            File.Move(source, target, overwrite: true);
            File.Delete(Path.Combine(_options.Directory, id + ".json"));
            Interlocked.Decrement(ref _count);
            LogLabelled(_logger, id, label, target);
            return target;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "frame {Id} not kept for review in {Directory}: {Error}")]
    private static partial void LogKeepFailed(ILogger logger, string id, string directory, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "review: {Id} labelled {Label} -> {Path}")]
    private static partial void LogLabelled(ILogger logger, string id, string label, string path);
}
