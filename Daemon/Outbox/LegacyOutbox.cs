using System.Globalization;
using System.Text;

namespace Inspection.Daemon.Outbox;

/// <summary>The outbox as daemons before the self-checking format left it: <c>outbox.log</c> ("camera TAB 0|1 TAB json"
/// lines) and <c>outbox.pos</c> (the byte offset delivered). <see cref="DiskOutbox"/> carries it over once.</summary>
internal static class LegacyOutbox
{
    private const string LogFile = "outbox.log";
    private const string PositionFile = "outbox.pos";

    /// <summary>The undelivered entries of a legacy outbox in <paramref name="directory"/>, or null when there is none.</summary>
    public static List<OutboxEntry>? Read(string directory)
    {
        var legacy = Path.Combine(directory, LogFile);
        if (!File.Exists(legacy))
        {
            return null;
        }

        var legacyPosition = Path.Combine(directory, PositionFile);
        var bytes = File.ReadAllBytes(legacy);
        var start = File.Exists(legacyPosition) && int.TryParse(File.ReadAllText(legacyPosition).Trim(), CultureInfo.InvariantCulture, out var p) && p >= 0 && p <= bytes.Length ? p : 0;
        var entries = new List<OutboxEntry>();
        for (var end = Array.IndexOf(bytes, (byte)'\n', start); end >= 0; start = end + 1, end = Array.IndexOf(bytes, (byte)'\n', start))
        {
            var line = bytes.AsSpan(start, end - start);
            var first = line.IndexOf((byte)'\t');
            var second = first < 0 ? -1 : line[(first + 1)..].IndexOf((byte)'\t') + first + 1;
            if (second > first)
            {
                entries.Add(new OutboxEntry(Encoding.UTF8.GetString(line[..first]), line[first + 1] == (byte)'1', line[(second + 1)..].ToArray()));
            }
        }

        return entries;
    }

    public static void Remove(string directory)
    {
        File.Delete(Path.Combine(directory, PositionFile));
        File.Delete(Path.Combine(directory, LogFile));
    }
}
