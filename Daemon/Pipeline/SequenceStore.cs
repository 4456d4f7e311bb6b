using System.Globalization;
using System.Text;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Pipeline;

/// <summary>Keeps each camera's <c>seq</c> going across restarts and crashes, in <c>sequence</c> beside the outbox.
/// Numbers are reserved ahead in blocks of <see cref="Block"/> (one fsync'd rename per block, not per result) and the
/// file says <c>reserved</c>; a clean stop writes the last number issued and says <c>clean</c>. The next start goes on
/// after the last number issued (clean) or after the reserved block (a crash): a number is never issued twice, and a
/// crash shows as a jump of at most one block plus what the crash lost from memory.</summary>
public sealed partial class SequenceStore
{
    public const string FileName = "sequence";
    public const int Block = 64;
    private readonly object _gate = new();
    private readonly string _path;
    private readonly Dictionary<string, long> _issued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _reserved = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    public SequenceStore(OutboxOptions options, ILogger<SequenceStore> logger)
    {
        _logger = logger;
        Directory.CreateDirectory(options.Directory);
        _path = Path.Combine(options.Directory, FileName);
        if (!File.Exists(_path))
        {
            return;
        }

        var lines = File.ReadAllLines(_path);
        var clean = lines.Length > 0 && lines[0] == "clean";
        foreach (var line in lines.Skip(1))
        {
            var tab = line.LastIndexOf('\t');
            if (tab > 0 && long.TryParse(line.AsSpan(tab + 1), CultureInfo.InvariantCulture, out var value) && value >= 0)
            {
                _issued[line[..tab]] = value;
                _reserved[line[..tab]] = value;
            }
        }

        if (!clean && _issued.Count > 0)
        {
            LogResumedAfterCrash(_logger, _path, string.Join(", ", _issued.Select(p => $"{p.Key} at {p.Value + 1}")));
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
                try
                {
                    var reserved = new Dictionary<string, long>(_reserved, StringComparer.Ordinal) { [camera] = next + Block - 1 };
                    Save("reserved", reserved);
                    _reserved[camera] = reserved[camera];
                }
                catch (IOException ex)
                {
                    // Results keep flowing; the reservation is tried again with the next number.
                    LogReserveFailed(_logger, camera, ex.Message);
                }
            }

            _issued[camera] = next;
            return next;
        }
    }

    /// <summary>No more numbers will be issued: saves the exact last numbers, so the next start goes on without a jump.</summary>
    public void Close()
    {
        lock (_gate)
        {
            Save("clean", _issued);
            foreach (var (camera, issued) in _issued)
            {
                _reserved[camera] = issued;
            }
        }
    }

    private void Save(string state, Dictionary<string, long> values)
    {
        var text = new StringBuilder(state).Append('\n');
        foreach (var (camera, value) in values)
        {
            text.Append(camera).Append('\t').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Durable.ReplaceFile(_path, Encoding.UTF8.GetBytes(text.ToString()));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot save the seq reservation of camera {Camera} ({Error}); after a crash now, numbers could be issued again")]
    private static partial void LogReserveFailed(ILogger logger, string camera, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the last run did not stop cleanly ({Path}): seq goes on after the numbers it had reserved ({Cameras}); the jump is not a loss by itself")]
    private static partial void LogResumedAfterCrash(ILogger logger, string path, string cameras);
}
