using System.Buffers.Binary;
using System.Text;

namespace Inspection.Trainer.Export;

/// <summary>One field of a protobuf message: its number, and its value as a varint, a fixed 32/64-bit word or bytes.</summary>
internal readonly record struct ProtoField(int Number, int WireType, ulong Varint, ReadOnlyMemory<byte> Bytes)
{
    /// <summary>The length-delimited payload as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Bytes.Span);

    /// <summary>A fixed 32-bit field as a float.</summary>
    public float Float => BitConverter.Int32BitsToSingle((int)Varint);
}

/// <summary>
/// Minimal protocol-buffers decoder, the counterpart of <see cref="ProtoWriter"/>: splits a message into its fields
/// without knowing the schema. Truncated or malformed input is a <see cref="FormatException"/>.
/// </summary>
internal static class ProtoReader
{
    /// <summary>The fields of one message, in the order written.</summary>
    public static IEnumerable<ProtoField> Fields(ReadOnlyMemory<byte> message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = ReadVarint(message.Span, ref position);
            var number = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    yield return new ProtoField(number, wire, ReadVarint(message.Span, ref position), default);
                    break;
                case 1:
                    yield return new ProtoField(number, wire, BinaryPrimitives.ReadUInt64LittleEndian(Take(message, ref position, 8).Span), default);
                    break;
                case 2:
                    var length = ReadVarint(message.Span, ref position);
                    if (length > (ulong)(message.Length - position))
                    {
                        throw new FormatException($"field {number}: {length} bytes announced, {message.Length - position} left (truncated)");
                    }

                    yield return new ProtoField(number, wire, 0, Take(message, ref position, (int)length));
                    break;
                case 5:
                    yield return new ProtoField(number, wire, BinaryPrimitives.ReadUInt32LittleEndian(Take(message, ref position, 4).Span), default);
                    break;
                default:
                    throw new FormatException($"field {number}: unsupported wire type {wire}");
            }
        }
    }

    /// <summary>A packed repeated varint field's values.</summary>
    public static IEnumerable<long> PackedVarints(ReadOnlyMemory<byte> bytes)
    {
        var position = 0;
        var values = new List<long>();
        while (position < bytes.Length)
        {
            values.Add((long)ReadVarint(bytes.Span, ref position));
        }

        return values;
    }

    private static ReadOnlyMemory<byte> Take(ReadOnlyMemory<byte> message, ref int position, int count)
    {
        if (count > message.Length - position)
        {
            throw new FormatException($"{count} bytes needed at offset {position}, {message.Length - position} left (truncated)");
        }

        var slice = message.Slice(position, count);
        position += count;
        return slice;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                throw new FormatException($"varint runs past the end at offset {position} (truncated)");
            }

            var b = span[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new FormatException($"varint longer than 10 bytes before offset {position}");
    }
}
