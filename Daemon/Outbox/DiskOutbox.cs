using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Inspection.Config.Options;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Outbox;

/// <summary>Append-only, fsync'd file of results the broker has not acknowledged, replayed oldest first.
/// <para><c>outbox.dat</c> starts with a header naming its generation (a random number given to each rewrite of the file),
/// followed by self-checking records (marker, length, CRC-32, body); <c>outbox.ack</c> holds "generation offset" of the
/// first record not yet delivered, saved about once a second during a replay. Every multi-step update errs towards re-sending:
/// a rewrite (compaction, or emptying once everything is delivered) is written to a temporary file and renamed over the
/// log before the new position is saved, and a position saved for another generation is ignored (reading starts at the
/// first record), so a crash between any two steps repeats results and never skips one. A torn or garbled record fails
/// its checksum and is skipped up to the next record that checks (counted in <see cref="Corrupt"/>); a failed append is
/// cut off again (rolled back) and the results it held are counted in <see cref="Lost"/>.</para>
/// <para>When the file would pass <see cref="OutboxOptions.MaxBytes"/>, the oldest good results are dropped first, then
/// the oldest defects; every drop is counted (<see cref="Dropped"/>) and logged.</para></summary>
internal sealed partial class DiskOutbox : IDisposable
{
    public const string LogFile = "outbox.dat";
    public const string PositionFile = "outbox.ack";
    private const int HeaderSize = 16;
    private static readonly byte[] FileMagic = "IOBX"u8.ToArray();

    // The delivered position is saved at most once a second (and when the outbox empties, and on dispose): a crash
    // re-sends at most a second of replay, and a replay is not slowed by one fsync'd rename per few results.
    private const long PositionSaveMs = 1000;
    private readonly object _gate = new();
    private readonly string _logPath;
    private readonly string _positionPath;
    private readonly long _maxBytes;
    private readonly bool _syncAppends;
    private readonly ILogger _logger;
    private FileStream _log;
    private long _generation;
    private long _position;
    private int _count;
    private int _unsaved;
    private long _savedAt;
    private long _dropped;
    private long _lost;
    private long _corrupt;

    public DiskOutbox(OutboxOptions options, ILogger<DiskOutbox> logger)
        : this(options.Directory, LogFile, PositionFile, options.MaxBytes, syncAppends: true, logger)
    {
        ImportLegacy(options.Directory);
        if (_count > 0)
        {
            LogRecovered(_logger, _count, _logPath);
        }
    }

    /// <summary>A log under other file names. With <paramref name="syncAppends"/> false (the result journal) an append
    /// is a plain write: it survives the process being killed (the page cache keeps it), and the file is fsync'd only
    /// with each position save, about once a second; it is never emptied by itself (<see cref="Clear"/>, <see cref="Compact"/>).</summary>
    public DiskOutbox(string directory, string logFile, string positionFile, long maxBytes, bool syncAppends, ILogger logger)
    {
        _logger = logger;
        _maxBytes = maxBytes;
        _syncAppends = syncAppends;
        Directory.CreateDirectory(directory);
        _logPath = Path.Combine(directory, logFile);
        _positionPath = Path.Combine(directory, positionFile);
        File.Delete(_logPath + ".tmp");
        _log = OpenLog();
        if (ReadGeneration() is { } generation)
        {
            _generation = generation;
            var (savedGeneration, savedPosition) = ReadPosition();

            // A position saved for another generation belongs to the file before a rewrite: start at the first record.
            _position = savedGeneration == _generation && savedPosition >= HeaderSize && savedPosition <= _log.Length ? savedPosition : HeaderSize;
            var pending = Records(_position, recovering: true).ToList();
            _count = pending.Count;
            var end = pending.Count > 0 ? pending[^1].End : _position;
            if (end < _log.Length)
            {
                // A record torn by a crash mid-append: cut it so the next append starts clean.
                _log.SetLength(end);
                _log.Flush(flushToDisk: true);
            }
        }
        else
        {
            // No file yet, or a crash before its header was complete (it then holds nothing): start a fresh generation.
            Rewrite([]);
        }
    }

    /// <summary>Entries waiting for delivery.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>Bytes waiting for delivery.</summary>
    public long PendingBytes
    {
        get
        {
            lock (_gate)
            {
                return _log.Length - _position;
            }
        }
    }

    /// <summary>Entries dropped because the outbox was full, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Results the outbox could not keep because writing them failed (a full disk, an I/O error), since start.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Garbled stretches of the file (records that fail their checksum) skipped when the outbox was opened.</summary>
    public long Corrupt => Interlocked.Read(ref _corrupt);

    /// <summary>Appends and fsyncs one entry; false (and counted in <see cref="Lost"/>) when it could not be written.</summary>
    public bool Append(OutboxEntry entry) => Append([entry]) == 1;

    /// <summary>Appends the entries with one fsync; makes room first when the cap would be passed. Returns how many were
    /// kept: all, or none when the write failed (the partial write is cut off again and the entries are counted lost).</summary>
    public int Append(IReadOnlyList<OutboxEntry> entries)
    {
        var batch = entries.SelectMany(OutboxRecord.Encode).ToArray();
        var size = batch.LongLength;
        lock (_gate)
        {
            if (_log.Length - _position + size > _maxBytes)
            {
                MakeRoom(size);
            }

            var before = _log.Length;
            try
            {
                _log.Seek(0, SeekOrigin.End);
                _log.Write(batch);
                _log.Flush(flushToDisk: _syncAppends);
            }
            catch (IOException ex)
            {
                RollBack(before);
                Interlocked.Add(ref _lost, entries.Count);
                LogAppendFailed(_logger, entries.Count, _logPath, ex.Message, Lost);
                return 0;
            }

            _count += entries.Count;
            return entries.Count;
        }
    }

    /// <summary>The oldest undelivered entry, or null.</summary>
    public (OutboxEntry Entry, long End)? Peek() => Peek(1) is [var first] ? first : null;

    /// <summary>Up to <paramref name="max"/> of the oldest undelivered entries, each with the position after it.</summary>
    public List<(OutboxEntry Entry, long End)> Peek(int max)
    {
        lock (_gate)
        {
            return [.. Records(_position).Take(max)];
        }
    }

    /// <summary>Bytes of the whole file, delivered records included (the end of the last record).</summary>
    public long FileBytes
    {
        get
        {
            lock (_gate)
            {
                return _log.Length;
            }
        }
    }

    /// <summary>Every record still in the file, delivered ones included, oldest first.</summary>
    public List<OutboxEntry> ReadAll()
    {
        lock (_gate)
        {
            return [.. Records(HeaderSize).Select(r => r.Entry)];
        }
    }

    /// <summary>Marks one entry, the one ending at <paramref name="end"/>, delivered; empties the file once all is delivered.</summary>
    public void Acknowledge(long end) => Acknowledge(end, 1);

    /// <summary>Marks the <paramref name="entries"/> entries up to <paramref name="end"/> delivered. An outbox (synced
    /// appends) is emptied once all is delivered; a journal only by <see cref="Clear"/> or <see cref="Compact"/>.</summary>
    public void Acknowledge(long end, int entries)
    {
        lock (_gate)
        {
            if (end <= _position)
            {
                return;
            }

            _position = end;
            _count = Math.Max(0, _count - entries);
            if (_position >= _log.Length && _syncAppends)
            {
                Rewrite([]);
                return;
            }

            _unsaved++;
            if (Environment.TickCount64 - _savedAt >= PositionSaveMs)
            {
                WritePosition();
            }
        }
    }

    /// <summary>Marks the next <paramref name="records"/> records delivered (a journal's results are done with in the
    /// order they were written).</summary>
    public void AcknowledgeRecords(int records)
    {
        lock (_gate)
        {
            var end = _position;
            foreach (var (_, recordEnd) in Records(_position).Take(records))
            {
                end = recordEnd;
            }

            Acknowledge(end, records);
        }
    }

    /// <summary>Starts a new, empty generation of the file (everything in it is done with).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            Rewrite([]);
        }
    }

    /// <summary>Rewrites the file as a new generation holding only the records not yet delivered.</summary>
    public void Compact()
    {
        lock (_gate)
        {
            Rewrite([.. Records(_position).Select(r => r.Entry)]);
        }
    }

    // The valid records from `from` on. A stretch that does not check (torn, garbled, or a position inside a record) is
    // skipped up to the next marker that starts a valid record; the scan at start counts and logs each such stretch.
    private IEnumerable<(OutboxEntry Entry, long End)> Records(long from, bool recovering = false)
    {
        var offset = from;
        var length = _log.Length;
        while (offset < length)
        {
            if (OutboxRecord.TryRead(_log, offset, length) is { } record)
            {
                yield return record;
                offset = record.End;
                continue;
            }

            var next = OutboxRecord.NextMarker(_log, offset + 1, length);
            if (next < 0)
            {
                yield break;
            }

            if (recovering)
            {
                Interlocked.Increment(ref _corrupt);
                LogCorrupt(_logger, _logPath, offset, next - offset);
            }

            offset = next;
        }
    }

    // Rewrites the pending part without the oldest good results (then the oldest defects) until the new entries fit
    // with 10% to spare, so a full outbox is not rewritten on every append.
    private void MakeRoom(long incoming)
    {
        var pending = Records(_position).Select(p => p.Entry).ToList();
        var target = (long)(_maxBytes * 0.9) - incoming;
        var size = pending.Sum(e => (long)OutboxRecord.Encode(e).Length);
        var dropped = new HashSet<int>();
        foreach (var defect in new[] { false, true })
        {
            for (var i = 0; i < pending.Count && size > target; i++)
            {
                if (pending[i].Defect == defect && dropped.Add(i))
                {
                    size -= OutboxRecord.Encode(pending[i]).Length;
                }
            }
        }

        Rewrite([.. pending.Where((_, i) => !dropped.Contains(i))]);
        Interlocked.Add(ref _dropped, dropped.Count);
        LogFull(_logger, _maxBytes, dropped.Count, pending.Count(e => !e.Defect), Dropped);
    }

    // Writes `keep` as a new generation into a temporary file, renames it over the log, then saves the position. A crash
    // before the rename leaves the old file and position; after it, the old position names the old generation and is
    // ignored, so everything in the new file is sent again (duplicates, never a skip).
    private void Rewrite(List<OutboxEntry> keep)
    {
        var generation = Random.Shared.NextInt64(1, long.MaxValue);
        var temp = _logPath + ".tmp";
        using (var rewrite = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            var header = new byte[HeaderSize];
            FileMagic.CopyTo(header, 0);
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), 1);
            BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), generation);
            rewrite.Write(header);
            foreach (var entry in keep)
            {
                rewrite.Write(OutboxRecord.Encode(entry));
            }

            rewrite.Flush(flushToDisk: true);
        }

        _log.Dispose();
        File.Move(temp, _logPath, overwrite: true);
        Durable.SyncDirectory(Path.GetDirectoryName(_logPath)!);
        _log = OpenLog();
        _generation = generation;
        _position = HeaderSize;
        _count = keep.Count;
        WritePosition();
    }

    private void RollBack(long length)
    {
        try
        {
            _log.SetLength(length);
            _log.Flush(flushToDisk: true);
        }
        catch (IOException ex)
        {
            // The partial record stays; it fails its checksum and readers skip it.
            LogRollbackFailed(_logger, _logPath, ex.Message);
        }
    }

    private long? ReadGeneration()
    {
        if (_log.Length < HeaderSize)
        {
            return null;
        }

        var header = new byte[HeaderSize];
        _log.Seek(0, SeekOrigin.Begin);
        _log.ReadExactly(header);
        return header.AsSpan(0, 4).SequenceEqual(FileMagic) ? BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)) : null;
    }

    // Unbuffered: a failed write must not leave bytes in a buffer that a later flush would add after the rollback.
    private FileStream OpenLog() => new(_logPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 0, FileOptions.None);

    private (long Generation, long Position) ReadPosition()
    {
        try
        {
            var parts = File.Exists(_positionPath) ? File.ReadAllText(_positionPath).Split(' ', StringSplitOptions.TrimEntries) : [];
            return parts.Length == 2 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var g) && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var p)
                ? (g, p)
                : (0, 0);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }

    private void WritePosition()
    {
        if (!_syncAppends)
        {
            // The journal's records reach the disk at least as often as its position: a power loss loses at most the
            // last second of results.
            _log.Flush(flushToDisk: true);
        }

        Durable.ReplaceFile(_positionPath, Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{_generation} {_position}")));
        _unsaved = 0;
        _savedAt = Environment.TickCount64;
    }

    // Results left by a daemon before the self-checking format (outbox.log: "camera TAB 0|1 TAB json" lines, outbox.pos:
    // the byte offset delivered) are carried over once, then the old files are removed.
    private void ImportLegacy(string directory)
    {
        if (LegacyOutbox.Read(directory) is not { } entries || (entries.Count > 0 && Append(entries) == 0))
        {
            return;
        }

        LegacyOutbox.Remove(directory);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_unsaved > 0)
            {
                WritePosition();
            }

            _log.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "outbox {Path} holds {Count} undelivered results from before; they go out first")]
    private static partial void LogRecovered(ILogger logger, int count, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "outbox full ({MaxBytes} bytes): dropped the {Dropped} oldest results (good ones first; {Good} good were pending); {Total} dropped since start")]
    private static partial void LogFull(ILogger logger, long maxBytes, int dropped, int good, long total);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot write {Count} results to {Path} ({Total} since start): {Error}")]
    private static partial void LogAppendFailed(ILogger logger, int count, string path, string error, long total);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot cut a failed append off {Path} ({Error}); readers skip the partial record")]
    private static partial void LogRollbackFailed(ILogger logger, string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "outbox {Path}: {Bytes} bytes at offset {Offset} do not check (a torn or damaged record); skipped")]
    private static partial void LogCorrupt(ILogger logger, string path, long offset, long bytes);
}
