using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Inspection.Inference.Onnx;

/// <summary>
/// Minimal protocol-buffers encoder: varints, fixed 32-bit floats and length-delimited fields (strings, bytes, nested
/// messages). Enough for the ONNX ModelProto subset that the trainer's exporter and the tests' tiny models write; nothing
/// here knows about ONNX itself.
/// </summary>
public sealed class ProtoWriter
{
    private const int WireVarint = 0;
    private const int WireLengthDelimited = 2;
    private const int WireFixed32 = 5;

    private readonly ArrayBufferWriter<byte> _buffer = new();

    /// <summary>Bytes written so far.</summary>
    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    /// <summary>An int32/int64/enum/bool field. Negative values take ten bytes (two's complement), as protobuf requires.</summary>
    public ProtoWriter Varint(int field, long value)
    {
        Tag(field, WireVarint);
        RawVarint(unchecked((ulong)value));
        return this;
    }

    /// <summary>A float field (fixed 32-bit, little-endian).</summary>
    [SuppressMessage("Microsoft.Design", "CA1720:Identifier contains type name", Justification = "Named for the protobuf field type it writes, like Varint and Bytes.")]
    public ProtoWriter Float(int field, float value)
    {
        Tag(field, WireFixed32);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _buffer.Write(bytes);
        return this;
    }

    /// <summary>A UTF-8 string field.</summary>
    [SuppressMessage("Microsoft.Design", "CA1720:Identifier contains type name", Justification = "Named for the protobuf field type it writes, like Varint and Bytes.")]
    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>A bytes field.</summary>
    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, WireLengthDelimited);
        RawVarint((ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    /// <summary>A nested message field, written by <paramref name="body"/>.</summary>
    public ProtoWriter Message(int field, Action<ProtoWriter> body)
    {
        var inner = new ProtoWriter();
        body(inner);
        return Bytes(field, inner._buffer.WrittenSpan);
    }

    private void Tag(int field, int wireType) => RawVarint((ulong)((field << 3) | wireType));

    private void RawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        WriteByte((byte)value);
    }

    private void WriteByte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }
}
