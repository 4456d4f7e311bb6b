using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.History;

/// <summary>What <c>/api/results</c> filters by; null fields do not filter.</summary>
internal sealed record ResultQuery(string? Camera = null, bool? Defect = null, string? PartId = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null, int Limit = 50);

/// <summary>Indexes every result in SQLite (WAL) next to the snapshots, with the file names of its snapshot, mask and
/// heat map in a second table that follows the snapshot writer: a row is removed before its files are, and at start the
/// table is made to match the folder, so the index never names a missing file. Results older than
/// <c>Snapshots:MaxAge</c> or beyond <c>History:MaxRows</c> are removed. Inserts are batched off the inspection path.</summary>
internal sealed partial class ResultHistory : DaemonWorker
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS results (
          id TEXT PRIMARY KEY, camera TEXT NOT NULL, seq INTEGER NOT NULL, captured_ms INTEGER NOT NULL,
          part_id TEXT, image_path TEXT, defect INTEGER NOT NULL, score REAL NOT NULL, threshold REAL NOT NULL,
          classifier TEXT NOT NULL, segmenter TEXT NOT NULL, coverage REAL, regions TEXT, alarm TEXT);
        CREATE INDEX IF NOT EXISTS results_time ON results (captured_ms);
        CREATE INDEX IF NOT EXISTS results_camera_time ON results (camera, captured_ms);
        CREATE INDEX IF NOT EXISTS results_part ON results (part_id) WHERE part_id IS NOT NULL;
        CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, frame TEXT NOT NULL, mask TEXT, heatmap TEXT);
        """;

    private readonly HistoryOptions _options;
    private readonly SnapshotsOptions _snapshots;
    private readonly TimeProvider _time;
    private readonly Channel<Action<SqliteConnection>> _writes;
    private readonly Lock _gate = new();
    private readonly SqliteConnection? _connection;
    private readonly string _connectionString = "";
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, InspectionResult> _latest = new(StringComparer.Ordinal);
    private long _dropped;
    private long _errors;
    private DateTimeOffset _lastPrune;

    public ResultHistory(InspectionOptions options, ResultSink sink, SnapshotWriter snapshots, TimeProvider time, ILogger<ResultHistory> logger)
        : base(logger)
    {
        _options = options.History;
        _snapshots = options.Snapshots;
        _time = time;
        _writes = Channel.CreateBounded<Action<SqliteConnection>>(new BoundedChannelOptions(8192) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite },
            _ => Interlocked.Increment(ref _dropped));
        sink.Numbered += r => _latest[r.Camera] = r;
        Path = PathFor(options);
        if (Path.Length == 0)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!);
            _connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = true }.ToString();
            _connection = new SqliteConnection(_connectionString);
            _connection.Open();
            Execute(_connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + Schema);
            SyncSnapshotsWithDisk(_connection);
        }
        catch (SqliteException ex)
        {
            LogOpenFailed(Logger, Path, ex.Message);
            _connection?.Dispose();
            _connection = null;
            return;
        }

        // The snapshot writer's retention runs at its start too (before ours), so subscribe now, in the constructor.
        sink.Numbered += Add;
        snapshots.Saved += (snapshot, paths) => Enqueue(c => SaveSnapshot(c, snapshot.Id, paths));
        snapshots.Removing += RemoveSnapshot;
    }

    /// <summary>The SQLite file, or empty when there is no history.</summary>
    public string Path { get; }

    public bool Enabled => _connection is not null;

    /// <summary>Index writes dropped because the queue was full (the disk could not keep up).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public static string PathFor(InspectionOptions options) =>
        !options.History.Enabled ? ""
        : options.History.File.Length > 0 ? options.History.File
        : options.Snapshots.Directory.Length > 0 ? System.IO.Path.Combine(options.Snapshots.Directory, "history.db") : "";

    /// <summary>The camera's most recent result (kept in memory), or null before its first.</summary>
    public InspectionResult? Latest(string camera) => _latest.GetValueOrDefault(camera);

    public void Add(InspectionResult result) => Enqueue(c => Insert(c, result));

    /// <summary>Removes the snapshot's row now (not queued), before the writer deletes its files.</summary>
    private void RemoveSnapshot(string id)
    {
        lock (_gate)
        {
            try
            {
                Execute(_connection!, "DELETE FROM snapshots WHERE id = $id", ("$id", id));
            }
            catch (SqliteException ex)
            {
                // The files go anyway; the row is dropped at the next start (the index is made to match the folder).
                Failed(ex);
            }
        }
    }

    /// <summary>Index writes that failed (a full or failing disk); inspection goes on without them.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    private void Failed(SqliteException ex)
    {
        var count = Interlocked.Increment(ref _errors);
        if (count <= 10 || count % 1000 == 0)
        {
            LogWriteFailed(Logger, Path, Errors, ex.Message);
        }
    }

    private void Enqueue(Action<SqliteConnection> write) => _writes.Writer.TryWrite(write);

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (_connection is null)
        {
            return;
        }

        var reader = _writes.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                WriteBatch(reader);
            }
        }
        finally
        {
            WriteBatch(reader);
        }
    }

    // One transaction per batch: with WAL and synchronous=NORMAL a commit costs no fsync, and a batch amortises the rest.
    private void WriteBatch(ChannelReader<Action<SqliteConnection>> reader)
    {
        lock (_gate)
        {
            try
            {
                using var transaction = _connection!.BeginTransaction();
                var count = 0;
                while (count < 1000 && reader.TryRead(out var write))
                {
                    write(_connection);
                    count++;
                }

                if (_time.GetUtcNow() - _lastPrune > TimeSpan.FromSeconds(10))
                {
                    Prune(_connection);
                    _lastPrune = _time.GetUtcNow();
                }

                transaction.Commit();
            }
            catch (SqliteException ex)
            {
                // This batch is lost from the index (the results themselves were published); the next may succeed.
                Failed(ex);
            }
        }
    }

    /// <summary>Writes everything queued and applies retention now (tests, shutdown).</summary>
    public void Flush()
    {
        if (_connection is not null)
        {
            _lastPrune = DateTimeOffset.MinValue;
            WriteBatch(_writes.Reader);
        }
    }

    private void Prune(SqliteConnection c)
    {
        var oldest = (_time.GetUtcNow() - _snapshots.MaxAge).ToUnixTimeMilliseconds();
        Execute(c, "DELETE FROM results WHERE captured_ms < $oldest", ("$oldest", oldest));
        Execute(c, "DELETE FROM results WHERE rowid <= (SELECT MAX(rowid) FROM results) - $max", ("$max", _options.MaxRows));
    }

    private static void Insert(SqliteConnection c, InspectionResult r) =>
        Execute(c, """
            INSERT OR REPLACE INTO results (id, camera, seq, captured_ms, part_id, image_path, defect, score, threshold, classifier, segmenter, coverage, regions, alarm)
            VALUES ($id, $camera, $seq, $t, $part, $image, $defect, $score, $threshold, $classifier, $segmenter, $coverage, $regions, $alarm)
            """,
            ("$id", r.Id), ("$camera", r.Camera), ("$seq", r.Seq), ("$t", new DateTimeOffset(r.CapturedAt).ToUnixTimeMilliseconds()),
            ("$part", r.PartId), ("$image", r.ImagePath), ("$defect", r.Defect), ("$score", r.Score), ("$threshold", r.Threshold),
            ("$classifier", r.Models.Classifier), ("$segmenter", r.Models.Segmenter), ("$coverage", r.Segmentation?.Coverage),
            ("$regions", r.Segmentation is null ? null : JsonSerializer.Serialize(r.Segmentation.Regions, HistoryJson.Default.IReadOnlyListDefectRegion)),
            ("$alarm", r.Alarm));

    private static void SaveSnapshot(SqliteConnection c, string id, IReadOnlyList<string> paths)
    {
        var names = paths.Select(System.IO.Path.GetFileName).ToList();
        Execute(c, "INSERT OR REPLACE INTO snapshots (id, frame, mask, heatmap) VALUES ($id, $frame, $mask, $heatmap)",
            ("$id", id), ("$frame", names.FirstOrDefault(n => n == id + SnapshotWriter.FrameSuffix)),
            ("$mask", names.FirstOrDefault(n => n == id + SnapshotWriter.MaskSuffix)),
            ("$heatmap", names.FirstOrDefault(n => n == id + SnapshotWriter.ExplainSuffix)));
    }

    // After a crash or a retention pass made while the daemon was down, the folder is the truth.
    private void SyncSnapshotsWithDisk(SqliteConnection c)
    {
        var onDisk = _snapshots.Directory.Length > 0 && Directory.Exists(_snapshots.Directory)
            ? Directory.EnumerateFiles(_snapshots.Directory).Where(f => !System.IO.Path.GetFileName(f).StartsWith(System.IO.Path.GetFileName(Path), StringComparison.Ordinal))
                .GroupBy(SnapshotWriter.IdOf).Where(g => g.Any(f => System.IO.Path.GetFileName(f) == g.Key + SnapshotWriter.FrameSuffix))
                .ToDictionary(g => g.Key, g => g.Order(StringComparer.Ordinal).ToList())
            : [];
        using var transaction = c.BeginTransaction();
        var indexed = new List<string>();
        using (var command = c.CreateCommand())
        {
            command.CommandText = "SELECT id FROM snapshots";
            using var rows = command.ExecuteReader();
            while (rows.Read())
            {
                indexed.Add(rows.GetString(0));
            }
        }

        foreach (var id in indexed.Where(id => !onDisk.ContainsKey(id)))
        {
            Execute(c, "DELETE FROM snapshots WHERE id = $id", ("$id", id));
        }

        foreach (var (id, files) in onDisk)
        {
            SaveSnapshot(c, id, files);
        }

        transaction.Commit();
    }

    /// <summary>Results matching <paramref name="q"/>, newest first, with their snapshot file names.</summary>
    public IReadOnlyList<HistoryRow> Query(ResultQuery q)
    {
        var where = new List<string>();
        var args = new List<(string, object?)>();
        void Filter(object? value, string clause, string name)
        {
            if (value is not null)
            {
                where.Add(clause);
                args.Add((name, value));
            }
        }

        Filter(q.Camera, "r.camera = $camera", "$camera");
        Filter(q.Defect, "r.defect = $defect", "$defect");
        Filter(q.PartId, "r.part_id = $part", "$part");
        Filter(q.Since?.ToUnixTimeMilliseconds(), "r.captured_ms >= $since", "$since");
        Filter(q.Until?.ToUnixTimeMilliseconds(), "r.captured_ms <= $until", "$until");
        args.Add(("$limit", Math.Clamp(q.Limit, 1, 1000)));
        return Read(SelectRows + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + " ORDER BY r.captured_ms DESC, r.rowid DESC LIMIT $limit", args);
    }

    public HistoryRow? Find(string id) => Read(SelectRows + " WHERE r.id = $id", [("$id", id)]).FirstOrDefault();

    /// <summary>Rows per camera and defects per camera since <paramref name="since"/>.</summary>
    public IReadOnlyDictionary<string, (long Results, long Defects)> Counts(DateTimeOffset since)
    {
        var counts = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        if (_connection is null)
        {
            return counts;
        }

        using var c = OpenReader();
        using var command = c.CreateCommand();
        command.CommandText = "SELECT camera, COUNT(*), SUM(defect) FROM results WHERE captured_ms >= $since GROUP BY camera";
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        using var rows = command.ExecuteReader();
        while (rows.Read())
        {
            counts[rows.GetString(0)] = (rows.GetInt64(1), rows.GetInt64(2));
        }

        return counts;
    }

    private const string SelectRows = """
        SELECT r.id, r.camera, r.seq, r.captured_ms, r.part_id, r.image_path, r.defect, r.score, r.threshold, r.classifier, r.segmenter,
               r.coverage, r.regions, r.alarm, s.frame, s.mask, s.heatmap
        FROM results r LEFT JOIN snapshots s ON s.id = r.id
        """;

    private List<HistoryRow> Read(string sql, IEnumerable<(string, object?)> args)
    {
        if (_connection is null)
        {
            return [];
        }

        using var c = OpenReader();
        using var command = c.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in args)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var result = new List<HistoryRow>();
        using var rows = command.ExecuteReader();
        while (rows.Read())
        {
            string? Text(int i) => rows.IsDBNull(i) ? null : rows.GetString(i);
            result.Add(new HistoryRow(
                rows.GetString(0), rows.GetString(1), rows.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(rows.GetInt64(3)).UtcDateTime,
                Text(4), Text(5), rows.GetInt64(6) != 0, rows.GetDouble(7), rows.GetDouble(8), new ResultModels(rows.GetString(9), rows.GetString(10)),
                rows.IsDBNull(11) ? null : rows.GetDouble(11),
                Text(12) is { } regions ? JsonSerializer.Deserialize(regions, HistoryJson.Default.IReadOnlyListDefectRegion) : null,
                Text(13), Text(14), Text(15), Text(16)));
        }

        return result;
    }

    // Readers get their own pooled connection: WAL lets them read while the writer commits.
    private SqliteConnection OpenReader()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        return c;
    }

    private static void Execute(SqliteConnection c, string sql, params (string Name, object? Value)[] args)
    {
        using var command = c.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in args)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        command.ExecuteNonQuery();
    }

    public override void Dispose()
    {
        _connection?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "result history {Path}: write failed ({Count} so far): {Error}; inspection goes on")]
    private static partial void LogWriteFailed(ILogger logger, string path, long count, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "result history {Path} cannot be opened ({Error}); running without history")]
    private static partial void LogOpenFailed(ILogger logger, string path, string error);
}

/// <summary>One indexed result with the file names of its snapshot, mask overlay and heat map (null when not on disk).</summary>
internal sealed record HistoryRow(
    string Id, string Camera, long Seq, DateTime CapturedAt, string? PartId, string? ImagePath, bool Defect, double Score, double Threshold,
    ResultModels Models, double? Coverage, IReadOnlyList<DefectRegion>? Regions, string? Alarm, string? Snapshot, string? Mask, string? Heatmap);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(IReadOnlyList<DefectRegion>))]
[JsonSerializable(typeof(HistoryRow))]
[JsonSerializable(typeof(IReadOnlyList<HistoryRow>))]
internal sealed partial class HistoryJson : JsonSerializerContext;
