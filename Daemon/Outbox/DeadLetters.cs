using System.Text.Json;
using Inspection.Config.Options;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Outbox;

/// <summary>Messages the broker refused for good (not authorised, too large, invalid topic), set aside in
/// <c>dead-letter.jsonl</c> beside the outbox so they no longer block the results behind them: one JSON line each with
/// the time, the topic, the broker's reason code and the message itself. An operator can fix the broker's ACL and
/// publish them again from the file.</summary>
internal sealed partial class DeadLetters(OutboxOptions options, ILogger<DeadLetters> logger)
{
    public const string FileName = "dead-letter.jsonl";
    private readonly object _gate = new();
    private long _count;
    private long _lost;

    public string Path { get; } = System.IO.Path.Combine(options.Directory, FileName);

    /// <summary>Messages set aside since start.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Refused messages that could not be written to the file either (they are gone), since start.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>Appends (fsync'd) the refused message and logs the broker's reason.</summary>
    public void Add(string topic, string reason, ReadOnlySpan<byte> payload)
    {
        using var line = new MemoryStream();
        using (var json = new Utf8JsonWriter(line))
        {
            json.WriteStartObject();
            json.WriteString("at", DateTime.UtcNow.ToString("O"));
            json.WriteString("topic", topic);
            json.WriteString("reason", reason);
            json.WriteString("payload", payload);
            json.WriteEndObject();
        }

        line.WriteByte((byte)'\n');
        lock (_gate)
        {
            try
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
                using var file = new FileStream(Path, FileMode.Append, FileAccess.Write);
                file.Write(line.GetBuffer().AsSpan(0, (int)line.Length));
                file.Flush(flushToDisk: true);
                Interlocked.Increment(ref _count);
                LogDeadLettered(logger, topic, reason, Path, Count);
            }
            catch (IOException ex)
            {
                Interlocked.Increment(ref _lost);
                LogLost(logger, topic, reason, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "broker refused a message on {Topic} for good ({Reason}); moved to {Path} ({Count} since start)")]
    private static partial void LogDeadLettered(ILogger logger, string topic, string reason, string path, long count);

    [LoggerMessage(Level = LogLevel.Error, Message = "broker refused a message on {Topic} for good ({Reason}) and the dead-letter file cannot be written ({Error}); the message is lost")]
    private static partial void LogLost(ILogger logger, string topic, string reason, string error);
}
