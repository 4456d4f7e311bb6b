using System.Text;
using Inspection.Config.Options;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Outbox;

/// <summary>One undelivered result: its camera, whether it is a defect (also due on the defect topic), and its JSON.</summary>
public sealed record OutboxEntry(string Camera, bool Defect, byte[] Payload);

/// <summary>Append-only, fsync'd file of results the broker has not acknowledged, replayed oldest first.
/// <c>outbox.log</c> holds one entry per line (<c>camera TAB 0|1 TAB json</c>); <c>outbox.pos</c> holds the byte offset of
/// the first entry not yet delivered, saved every few acknowledgements. A crash re-sends the entries delivered since the
/// last save (at-least-once; consumers de-duplicate by result id). When the file would pass <see cref="OutboxOptions.MaxBytes"/>,
/// the oldest good results are dropped first, then the oldest defects; every drop is counted and logged.</summary>
public sealed partial class DiskOutbox : IDisposable
{
    private const string LogFile = "outbox.log";
    private const string PositionFile = "outbox.pos";
    private readonly object _gate = new();
    private readonly string _logPath;
    private readonly string _positionPath;
    private readonly long _maxBytes;
    private readonly ILogger _logger;
    // The delivered position is saved every PositionSaveInterval acknowledgements (and when the outbox empties, and on
    // dispose): a crash re-sends at most that many results, and a long replay is not one fsync'd rename per result.
    private const int PositionSaveInterval = 32;
    private FileStream _log;
    private long _position;
    private int _count;
    private int _unsaved;

    public DiskOutbox(OutboxOptions options, ILogger<DiskOutbox> logger)
    {
        _logger = logger;
        _maxBytes = options.MaxBytes;
        Directory.CreateDirectory(options.Directory);
        _logPath = Path.Combine(options.Directory, LogFile);
        _positionPath = Path.Combine(options.Directory, PositionFile);
        _log = OpenLog();
        DropTornTail();
        _position = ReadPosition();
        if (_position > _log.Length)
        {
            _position = 0;
        }

        _count = Pending().Count();
        if (_count > 0)
        {
            LogRecovered(_logger, _count, _logPath);
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
    public long Dropped { get; private set; }

    /// <summary>Appends and fsyncs one entry; makes room first when the cap would be passed.</summary>
    public void Append(OutboxEntry entry)
    {
        var line = Encode(entry);
        lock (_gate)
        {
            if (_log.Length - _position + line.Length > _maxBytes)
            {
                MakeRoom(line.Length);
            }

            _log.Seek(0, SeekOrigin.End);
            _log.Write(line);
            _log.Flush(flushToDisk: true);
            _count++;
        }
    }

    /// <summary>The oldest undelivered entry, or null.</summary>
    public (OutboxEntry Entry, long End)? Peek()
    {
        lock (_gate)
        {
            foreach (var item in Pending())
            {
                return item;
            }

            return null;
        }
    }

    /// <summary>Marks everything up to <paramref name="end"/> delivered; empties the files once all is delivered.</summary>
    public void Acknowledge(long end)
    {
        lock (_gate)
        {
            if (end <= _position)
            {
                return;
            }

            _position = end;
            _count = Math.Max(0, _count - 1);
            if (_position >= _log.Length)
            {
                _log.SetLength(0);
                _log.Flush(flushToDisk: true);
                _position = 0;
                _count = 0;
                _unsaved = PositionSaveInterval;
            }

            if (++_unsaved >= PositionSaveInterval)
            {
                WritePosition(_position);
                _unsaved = 0;
            }
        }
    }

    private IEnumerable<(OutboxEntry Entry, long End)> Pending()
    {
        _log.Seek(_position, SeekOrigin.Begin);
        var offset = _position;
        var buffer = new List<byte>(1024);
        int b;
        while ((b = _log.ReadByte()) >= 0)
        {
            offset++;
            if (b != '\n')
            {
                buffer.Add((byte)b);
                continue;
            }

            var entry = Decode(buffer);
            buffer.Clear();
            if (entry is not null)
            {
                yield return (entry, offset);
            }
        }
    }

    // Rewrites the pending part without the oldest good results (then the oldest defects) until the new entry fits
    // with 10% to spare, so a full outbox is not rewritten on every append.
    private void MakeRoom(int incoming)
    {
        var pending = Pending().Select(p => p.Entry).ToList();
        var target = (long)(_maxBytes * 0.9) - incoming;
        var size = pending.Sum(e => (long)Encode(e).Length);
        var dropped = new HashSet<int>();
        foreach (var defect in new[] { false, true })
        {
            for (var i = 0; i < pending.Count && size > target; i++)
            {
                if (pending[i].Defect == defect && dropped.Add(i))
                {
                    size -= Encode(pending[i]).Length;
                }
            }
        }

        var temp = _logPath + ".tmp";
        using (var rewrite = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            for (var i = 0; i < pending.Count; i++)
            {
                if (!dropped.Contains(i))
                {
                    rewrite.Write(Encode(pending[i]));
                }
            }

            rewrite.Flush(flushToDisk: true);
        }

        _log.Dispose();
        File.Move(temp, _logPath, overwrite: true);
        _log = OpenLog();
        _position = 0;
        WritePosition(0);
        _unsaved = 0;
        _count = pending.Count - dropped.Count;
        Dropped += dropped.Count;
        LogFull(_logger, _maxBytes, dropped.Count, pending.Count(e => !e.Defect), Dropped);
    }

    // A crash mid-append leaves a line without its newline; cut it so the next append starts on a fresh line.
    private void DropTornTail()
    {
        var end = _log.Length;
        while (end > 0)
        {
            _log.Seek(end - 1, SeekOrigin.Begin);
            if (_log.ReadByte() == '\n')
            {
                break;
            }

            end--;
        }

        if (end != _log.Length)
        {
            _log.SetLength(end);
            _log.Flush(flushToDisk: true);
        }
    }

    private FileStream OpenLog() => new(_logPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 4096, FileOptions.None);

    private long ReadPosition()
    {
        try
        {
            return File.Exists(_positionPath) && long.TryParse(File.ReadAllText(_positionPath).Trim(), out var p) && p >= 0 ? p : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private void WritePosition(long position)
    {
        var temp = _positionPath + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            stream.Write(Encoding.ASCII.GetBytes(position.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, _positionPath, overwrite: true);
    }

    private static byte[] Encode(OutboxEntry entry)
    {
        var head = Encoding.UTF8.GetBytes($"{entry.Camera}\t{(entry.Defect ? 1 : 0)}\t");
        var line = new byte[head.Length + entry.Payload.Length + 1];
        head.CopyTo(line, 0);
        entry.Payload.CopyTo(line, head.Length);
        line[^1] = (byte)'\n';
        return line;
    }

    // A line cut short by a crash mid-write has no newline and is never read; a garbled one is skipped.
    private static OutboxEntry? Decode(List<byte> line)
    {
        var bytes = line.ToArray();
        var first = Array.IndexOf(bytes, (byte)'\t');
        var second = first < 0 ? -1 : Array.IndexOf(bytes, (byte)'\t', first + 1);
        if (second < 0)
        {
            return null;
        }

        return new OutboxEntry(Encoding.UTF8.GetString(bytes, 0, first), bytes[first + 1] == (byte)'1', bytes[(second + 1)..]);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_unsaved > 0)
            {
                WritePosition(_position);
            }

            _log.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "outbox {Path} holds {Count} undelivered results from before; they go out first")]
    private static partial void LogRecovered(ILogger logger, int count, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "outbox full ({MaxBytes} bytes): dropped the {Dropped} oldest results (good ones first; {Good} good were pending); {Total} dropped since start")]
    private static partial void LogFull(ILogger logger, long maxBytes, int dropped, int good, long total);
}
