using System.Text.Json;
using System.Text.Json.Nodes;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Pipeline;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Outbox;

/// <summary>A result queued for the publisher, and whether it is in the <see cref="ResultJournal"/> (false: its write
/// failed).</summary>
internal sealed record QueuedResult(OutboxEntry Entry, bool Journaled);

/// <summary>Every numbered result is written here (<c>journal.dat</c>, the outbox's record format) the moment it gets
/// its <c>seq</c>, before anyone sees it, and marked done once the publisher is through with it (acknowledged by the
/// broker, set aside, or moved to the outbox). The write is not fsync'd: it survives a SIGKILL, an OOM kill or a
/// watchdog kill of the process (the page cache keeps it), and the file is fsync'd about once a second with its
/// position, so a power loss takes at most the last second. The next start moves what was not done into the outbox
/// (replayed as usual) and lets the <see cref="SequenceStore"/> go on after the highest <c>seq</c> written, so a killed
/// process neither skips nor reuses a number. The publisher works through results in queue order, the journal's order,
/// so one position (after the last result done with) says what is done, and "done" is counted in records, which stays
/// true when a compaction moves the unfinished ones to the start of a new file.</summary>
internal sealed partial class ResultJournal : IDisposable, IStatsSource
{
    public const string LogFile = "journal.dat";
    public const string PositionFile = "journal.ack";
    private readonly object _gate = new();
    private readonly DiskOutbox _log;
    private readonly SequenceStore _sequences;
    private readonly long _compactBytes;
    private readonly Dictionary<string, long> _highest = new(StringComparer.Ordinal);

    public ResultJournal(OutboxOptions options, DiskOutbox outbox, SequenceStore sequences, ILogger<ResultJournal> logger)
    {
        _sequences = sequences;
        _compactBytes = options.JournalBytes;
        _log = new DiskOutbox(options.Directory, LogFile, PositionFile, long.MaxValue / 2, syncAppends: false, logger);
        foreach (var entry in _log.ReadAll())
        {
            if (SeqOf(entry.Payload) is { } seq && seq > _highest.GetValueOrDefault(entry.Camera))
            {
                _highest[entry.Camera] = seq;
            }
        }

        sequences.Resume(_highest);

        // Results a killed run had numbered but not finished: to the outbox (fsync'd), then the journal starts empty. A
        // crash in between repeats them (duplicates, never a gap).
        var pending = _log.Peek(int.MaxValue).Select(p => p.Entry).ToList();
        Recovered = pending.Count;
        if (pending.Count > 0)
        {
            outbox.Append(pending);
            LogRecovered(logger, pending.Count);
        }

        _log.Clear();
    }

    /// <summary>Numbered results the last run had not finished with, moved to the outbox at this start.</summary>
    public int Recovered { get; }

    /// <summary>Results the journal could not write (a full disk, an I/O error), since start; they are still sent, but a
    /// kill before their acknowledgement loses them.</summary>
    public long WriteErrors => _log.Lost;

    /// <summary><c>journal_recovered</c>, <c>journal_errors</c>.</summary>
    public void AddStats(JsonObject stats)
    {
        stats["journal_recovered"] = Recovered;
        stats["journal_errors"] = WriteErrors;
    }

    /// <summary>Writes a numbered result; false when it could not be written.</summary>
    public bool Append(string camera, long seq, OutboxEntry entry)
    {
        lock (_gate)
        {
            if (!_log.Append(entry))
            {
                return false;
            }

            _highest[camera] = seq;
            return true;
        }
    }

    /// <summary>The publisher is through with <paramref name="window"/> (the oldest results not yet done with, in queue
    /// order). Once the file has passed <see cref="OutboxOptions.JournalBytes"/> and at least half of it is done with, it
    /// is rewritten with only the unfinished results, after the highest numbers are saved in the sequence file.</summary>
    public void Done(IReadOnlyList<QueuedResult> window)
    {
        var written = window.Count(q => q.Journaled);
        if (written == 0)
        {
            return;
        }

        lock (_gate)
        {
            _log.AcknowledgeRecords(written);
            var fileBytes = _log.FileBytes;
            if (fileBytes >= _compactBytes && _log.PendingBytes <= fileBytes / 2)
            {
                _sequences.SaveWritten(_highest);
                _log.Compact();
            }
        }
    }

    // The top-level "seq" of a result's JSON.
    private static long? SeqOf(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("seq"u8))
                {
                    return reader.Read() && reader.TryGetInt64(out var seq) ? seq : null;
                }
            }
        }
        catch (JsonException)
        {
            // A record that checks but holds no readable result: it carries no number.
        }

        return null;
    }

    public void Dispose() => _log.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "the result journal holds {Count} numbered results the last run did not finish; moved to the outbox, they go out again")]
    private static partial void LogRecovered(ILogger logger, int count);
}
