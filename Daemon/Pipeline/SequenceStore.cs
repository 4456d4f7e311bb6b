using System.Globalization;
using System.Text;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Pipeline;

/// <summary>Keeps each camera's <c>seq</c> going across restarts and crashes, in <c>sequence</c> beside the outbox.
/// Each camera's line holds the numbers reserved ahead (in blocks of <see cref="Block"/>, one fsync'd rename per block)
/// and the highest number known written to the result journal. The first line says how the last run ended:
/// <c>clean</c> (the last number issued is exact), or <c>running</c> and the kernel's boot id. The next start goes on
/// <list type="bullet">
/// <item>after a clean stop: after the last number issued;</item>
/// <item>after a crash of the process in the same boot (SIGKILL, OOM kill, watchdog): after the highest number written
/// to the journal (its writes sit in the page cache, which outlives the process), so nothing is skipped;</item>
/// <item>after a power loss or kernel crash (another boot): after the reserved block, since the journal's last writes may
/// never have reached the disk; a number is never issued twice.</item>
/// </list></summary>
internal sealed partial class SequenceStore
{
    public const string FileName = "sequence";
    public const int Block = 64;
    private const string Clean = "clean";
    private const string Running = "running";
    private readonly object _gate = new();
    private readonly string _path;
    private readonly string _bootId;
    private readonly Dictionary<string, long> _issued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _reserved = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _written = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private readonly string _lastEnd = Clean;

    /// <param name="bootId">The kernel's boot id (tests give another one to stand for a power loss).</param>
    public SequenceStore(OutboxOptions options, ILogger<SequenceStore> logger, string? bootId = null)
    {
        _logger = logger;
        _bootId = bootId ?? CurrentBootId();
        Directory.CreateDirectory(options.Directory);
        _path = Path.Combine(options.Directory, FileName);
        if (!File.Exists(_path))
        {
            return;
        }

        var lines = File.ReadAllLines(_path);
        _lastEnd = lines.Length > 0 ? lines[0] : "";
        foreach (var line in lines.Skip(1))
        {
            // camera TAB reserved TAB written; a file from before the journal has only camera TAB reserved.
            var fields = line.Split('\t');
            if (fields.Length < 2 || !long.TryParse(fields[1], CultureInfo.InvariantCulture, out var reserved) || reserved < 0)
            {
                continue;
            }

            var written = fields.Length > 2 && long.TryParse(fields[2], CultureInfo.InvariantCulture, out var w) && w >= 0 ? w : reserved;
            _reserved[fields[0]] = reserved;
            _written[fields[0]] = Math.Min(written, reserved);
            _issued[fields[0]] = reserved;
        }
    }

    /// <summary>Decides where each camera goes on, given the highest numbers found in the result journal, and marks the
    /// file <c>running</c> for this boot, so that a crash from now on is told apart from a clean stop.</summary>
    public void Resume(IReadOnlyDictionary<string, long> inJournal)
    {
        lock (_gate)
        {
            var killed = _lastEnd == $"{Running} {_bootId}";
            foreach (var camera in _reserved.Keys.Union(inJournal.Keys).ToList())
            {
                var written = Math.Max(_written.GetValueOrDefault(camera), inJournal.GetValueOrDefault(camera));
                _issued[camera] = killed ? written : Math.Max(written, _reserved.GetValueOrDefault(camera));
                _reserved[camera] = Math.Max(_issued[camera], _reserved.GetValueOrDefault(camera));
                _written[camera] = _issued[camera];
            }

            var cameras = string.Join(", ", _issued.Select(p => $"{p.Key} at {p.Value + 1}"));
            if (killed && _issued.Count > 0)
            {
                LogResumedAfterKill(_logger, _path, cameras);
            }
            else if (_lastEnd != Clean && _issued.Count > 0)
            {
                LogResumedAfterCrash(_logger, _path, cameras);
            }

            Save(Running);
        }
    }

    /// <summary>The last number issued to <paramref name="camera"/> (0 for a camera never seen).</summary>
    public long Last(string camera)
    {
        lock (_gate)
        {
            return _issued.GetValueOrDefault(camera);
        }
    }

    /// <summary>Issues the next number for <paramref name="camera"/>, reserving (durably) a new block when needed.</summary>
    public long Next(string camera)
    {
        lock (_gate)
        {
            var next = _issued.GetValueOrDefault(camera) + 1;
            if (next > _reserved.GetValueOrDefault(camera))
            {
                var before = _reserved.GetValueOrDefault(camera);
                try
                {
                    _reserved[camera] = next + Block - 1;
                    Save(Running);
                }
                catch (IOException ex)
                {
                    // Results keep flowing; the reservation is tried again with the next number.
                    _reserved[camera] = before;
                    LogReserveFailed(_logger, camera, ex.Message);
                }
            }

            _issued[camera] = next;
            return next;
        }
    }

    /// <summary>Saves the highest numbers written to the result journal before the journal is emptied, so that a crash
    /// later in this boot goes on after them.</summary>
    public void SaveWritten(IReadOnlyDictionary<string, long> written)
    {
        lock (_gate)
        {
            foreach (var (camera, seq) in written)
            {
                _written[camera] = Math.Max(_written.GetValueOrDefault(camera), seq);
            }

            Save(Running);
        }
    }

    /// <summary>No more numbers will be issued: saves the exact last numbers, so the next start goes on without a jump.</summary>
    public void Close()
    {
        lock (_gate)
        {
            foreach (var (camera, issued) in _issued)
            {
                _reserved[camera] = issued;
                _written[camera] = issued;
            }

            Save(Clean);
        }
    }

    private void Save(string state)
    {
        var text = new StringBuilder(state == Running ? $"{Running} {_bootId}" : state).Append('\n');
        foreach (var (camera, reserved) in _reserved)
        {
            text.Append(CultureInfo.InvariantCulture, $"{camera}\t{reserved}\t{_written.GetValueOrDefault(camera)}\n");
        }

        Durable.ReplaceFile(_path, Encoding.UTF8.GetBytes(text.ToString()));
    }

    private static string CurrentBootId()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (IOException)
        {
            // Unknown: a fresh id makes every unclean end count as a power loss (a jump, never a number twice).
            return Guid.NewGuid().ToString("N");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot save the seq reservation of camera {Camera} ({Error}); after a power loss now, numbers could be issued again")]
    private static partial void LogReserveFailed(ILogger logger, string camera, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the last run was killed ({Path}): seq goes on after the last result it wrote to the journal ({Cameras}); its unsent results are replayed")]
    private static partial void LogResumedAfterKill(ILogger logger, string path, string cameras);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the last run did not stop cleanly and the machine has restarted since ({Path}): seq goes on after the numbers it had reserved ({Cameras}); the jump is not a loss by itself")]
    private static partial void LogResumedAfterCrash(ILogger logger, string path, string cameras);
}
