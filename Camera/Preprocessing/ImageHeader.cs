using System.Buffers.Binary;

namespace Inspection.Camera.Preprocessing;

/// <summary>An image's width and height read from its file header, without decoding it (PNG, BMP, JPEG, TIFF: the
/// formats <see cref="ImageFiles"/> reads). Lets a caller refuse an image bomb (a small file that decodes to gigabytes)
/// before the decoder allocates anything.</summary>
internal static class ImageHeader
{
    /// <summary>The dimensions the header declares, or null when the bytes are not a PNG, BMP, JPEG or TIFF header.</summary>
    public static (long Width, long Height)? ReadSize(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 24 && data[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return (BinaryPrimitives.ReadUInt32BigEndian(data[16..]), BinaryPrimitives.ReadUInt32BigEndian(data[20..]));
        }

        if (data.Length >= 26 && data[0] == 'B' && data[1] == 'M')
        {
            var headerSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
            return headerSize == 12
                ? (BinaryPrimitives.ReadUInt16LittleEndian(data[18..]), BinaryPrimitives.ReadUInt16LittleEndian(data[20..]))
                : (Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[18..])), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[22..])));
        }

        if (data.Length >= 4 && data[0] == 0xFF && data[1] == 0xD8)
        {
            return JpegSize(data);
        }

        if (data.Length >= 8 && ((data[0] == 'I' && data[1] == 'I') || (data[0] == 'M' && data[1] == 'M')))
        {
            return TiffSize(data, littleEndian: data[0] == 'I');
        }

        return null;
    }

    // Walks the JPEG segments to the first start-of-frame marker (SOF0..SOF15 except DHT, JPG and DAC).
    private static (long, long)? JpegSize(ReadOnlySpan<byte> data)
    {
        var i = 2;
        while (i + 9 < data.Length)
        {
            if (data[i] != 0xFF)
            {
                return null;
            }

            var marker = data[i + 1];
            if (marker == 0xFF)
            {
                i++;
                continue;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return (BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]));
            }

            i += 2 + length;
        }

        return null;
    }

    // The first image file directory's ImageWidth (256) and ImageLength (257) tags, SHORT or LONG.
    private static (long, long)? TiffSize(ReadOnlySpan<byte> data, bool littleEndian)
    {
        uint U32(ReadOnlySpan<byte> s) => littleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        ushort U16(ReadOnlySpan<byte> s) => littleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);
        if (U16(data[2..]) != 42)
        {
            return null;
        }

        var directory = U32(data[4..]);
        if (directory + 2 > data.Length)
        {
            return null;
        }

        long? width = null, height = null;
        var entries = U16(data[(int)directory..]);
        for (var e = 0; e < entries && directory + 2 + ((e + 1) * 12) <= data.Length; e++)
        {
            var entry = data[(int)(directory + 2 + (e * 12))..];
            var value = U16(entry[2..]) == 3 ? U16(entry[8..]) : U32(entry[8..]);
            switch (U16(entry))
            {
                case 256:
                    width = value;
                    break;
                case 257:
                    height = value;
                    break;
            }
        }

        return width is { } w && height is { } h ? (w, h) : null;
    }
}
