using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Inspection.Daemon.Outbox;

/// <summary>One undelivered result: its camera, whether it is a defect (also due on the defect topic), and its JSON.</summary>
internal sealed record OutboxEntry(string Camera, bool Defect, byte[] Payload);

/// <summary>The self-checking record format of the outbox and the result journal (see <see cref="DiskOutbox"/>).</summary>
internal static class OutboxRecord
{
    private const int HeaderSize = 10;
    private const int MaxBytes = 64 * 1024 * 1024;
    private const byte Marker0 = 0xB5;
    private const byte Marker1 = 0x0E;

    // Each record: marker (2 bytes), body length (4), CRC-32 of the body (4), body = flags (1), camera length (1),
    // camera (UTF-8), payload. The marker lets a reader find the next record after a garbled one.
    public static byte[] Encode(OutboxEntry entry)
    {
        var camera = Encoding.UTF8.GetBytes(entry.Camera);
        if (camera.Length > byte.MaxValue)
        {
            throw new ArgumentException($"camera id '{entry.Camera}' is longer than 255 bytes", nameof(entry));
        }

        var bodyLength = 2 + camera.Length + entry.Payload.Length;
        var record = new byte[HeaderSize + bodyLength];
        var body = record.AsSpan(HeaderSize);
        body[0] = entry.Defect ? (byte)1 : (byte)0;
        body[1] = (byte)camera.Length;
        camera.CopyTo(body[2..]);
        entry.Payload.CopyTo(body[(2 + camera.Length)..]);
        record[0] = Marker0;
        record[1] = Marker1;
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(2), bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(6), Crc32.HashToUInt32(body));
        return record;
    }

    /// <summary>The record at <paramref name="offset"/> if one starts there and checks, with the offset after it.</summary>
    public static (OutboxEntry Entry, long End)? TryRead(Stream log, long offset, long length)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        log.Seek(offset, SeekOrigin.Begin);
        if (offset + HeaderSize > length || log.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize
            || header[0] != Marker0 || header[1] != Marker1)
        {
            return null;
        }

        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(header[2..]);
        if (bodyLength < 2 || bodyLength > MaxBytes || offset + HeaderSize + bodyLength > length)
        {
            return null;
        }

        var body = new byte[bodyLength];
        if (log.ReadAtLeast(body, bodyLength, throwOnEndOfStream: false) < bodyLength
            || Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(header[6..]) || 2 + body[1] > bodyLength)
        {
            return null;
        }

        var camera = Encoding.UTF8.GetString(body, 2, body[1]);
        return (new OutboxEntry(camera, body[0] == 1, body[(2 + body[1])..]), offset + HeaderSize + bodyLength);
    }

    // The offset of the next marker that starts a record which checks, or -1.
    public static long NextMarker(Stream log, long from, long length)
    {
        var buffer = new byte[64 * 1024];
        for (var start = from; start < length - 1; start += buffer.Length - 1)
        {
            log.Seek(start, SeekOrigin.Begin);
            var read = log.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            for (var i = 0; i < read - 1; i++)
            {
                if (buffer[i] == Marker0 && buffer[i + 1] == Marker1 && TryRead(log, start + i, length) is not null)
                {
                    return start + i;
                }
            }

            // TryRead moved the stream; the next chunk seeks again.
        }

        return -1;
    }
}
