using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Inspection.Daemon.Logging;

/// <summary>One journal entry in journald's native protocol: <c>NAME=value\n</c> per field, or, for a value with a
/// newline, <c>NAME\n</c> + its length as 64-bit little endian + the value + <c>\n</c>.</summary>
internal sealed class JournalEntry
{
    private const int MaxNameLength = 64;
    private readonly ArrayBufferWriter<byte> _buffer = new(512);

    public void Add(string name, string value)
    {
        _buffer.Write(Encoding.ASCII.GetBytes(name));
        var bytes = Encoding.UTF8.GetBytes(value);
        if (value.Contains('\n', StringComparison.Ordinal))
        {
            _buffer.Write("\n"u8);
            BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), (ulong)bytes.Length);
            _buffer.Advance(8);
        }
        else
        {
            _buffer.Write("="u8);
        }

        _buffer.Write(bytes);
        _buffer.Write("\n"u8);
    }

    public ReadOnlySpan<byte> Bytes => _buffer.WrittenSpan;

    /// <summary>A structured-logging key as a journal field name: upper case, only A-Z, 0-9 and '_', not starting with
    /// '_' (journald reserves those for trusted fields) or a digit, at most 64 characters. Null when nothing is left.</summary>
    public static string? FieldName(string key)
    {
        var name = new StringBuilder(key.Length);
        foreach (var c in key.ToUpperInvariant())
        {
            name.Append(c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') ? c : '_');
        }

        var field = name.ToString().TrimStart('_');
        if (field.Length == 0)
        {
            return null;
        }

        field = char.IsAsciiDigit(field[0]) ? "ARG_" + field : field;
        return field.Length > MaxNameLength ? field[..MaxNameLength] : field;
    }

    /// <summary>A field value as the log's text would show it, culture-independent.</summary>
    public static string Value(object? value) => value switch
    {
        null => "null",
        DateTimeOffset at => at.ToString("O", CultureInfo.InvariantCulture),
        DateTime at => at.ToString("O", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
