using System.Buffers.Binary;
using System.ComponentModel;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>rtsp://user:pass@host:554/path?transport=tcp</c>, <c>http(s)://host/stream.mjpg</c>: a network stream decoded by an
/// <c>ffmpeg</c> process that writes one BMP image per frame to a pipe. The FFmpeg inside OpenCvSharp's runtime is built
/// without network protocols, so the system's ffmpeg (Debian package <c>ffmpeg</c>) does the networking and decoding.
/// Options: <c>transport</c> (<c>tcp</c> default, or <c>udp</c>; RTSP only), <c>open_timeout_ms</c> (first picture,
/// default 10000), <c>read_timeout_ms</c> (ffmpeg gives up on a silent connection, default 5000). Other query parameters
/// belong to the camera's URL and are passed on. A stream never ends: a failed read means reconnect.
/// </summary>
internal sealed partial class FfmpegStreamSource : IFrameSource, IInterruptibleSource
{
    private const int BmpHeaderBytes = 54;
    private const int MaxPictureBytes = 512 * 1024 * 1024;
    private const int MaxSide = 65_535;

    private readonly string _url;
    private readonly bool _rtsp;
    private readonly string _transport;
    private readonly int _openTimeoutMs;
    private readonly int _readTimeoutMs;
    private readonly ILogger _logger;
    private readonly Queue<string> _errors = new();
    private readonly Lock _processLock = new();
    private byte[] _buffer = new byte[BmpHeaderBytes];
    private Process? _ffmpeg;
    private Stream? _pipe;
    private bool _firstPending;
    private string? _credentialsFile;

    /// <summary>Creates the source from its URI options.</summary>
    public FfmpegStreamSource(SourceUri uri, ILogger? logger = null)
    {
        Description = uri.Masked;
        _logger = logger ?? NullLogger.Instance;
        _rtsp = uri.Scheme == "rtsp";
        _transport = uri.String("transport", "tcp", "udp") ?? "tcp";
        _openTimeoutMs = uri.Int("open_timeout_ms", 10_000, 100, 600_000);
        _readTimeoutMs = uri.Int("read_timeout_ms", 5_000, 100, 600_000);
        var queryStart = uri.Text.IndexOf('?', StringComparison.Ordinal);
        _url = (queryStart < 0 ? uri.Text : uri.Text[..queryStart]) + uri.QueryWithoutUsed();
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public bool EndOfStream => false;

    /// <summary>Width of the stream's pictures (0 before the first).</summary>
    public int Width { get; private set; }

    /// <summary>Height of the stream's pictures (0 before the first).</summary>
    public int Height { get; private set; }

    /// <inheritdoc />
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "A source is opened once (one thread opens, reads and disposes it); Dispose ends and releases the process.")]
    public void Open()
    {
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var timeoutMicroseconds = (_readTimeoutMs * 1000L).ToString(CultureInfo.InvariantCulture);
        string[] inputOptions = _rtsp ? ["rtsp_transport", _transport, "timeout", timeoutMicroseconds] : ["rw_timeout", timeoutMicroseconds];
        List<string> args = ["-nostdin", "-hide_banner", "-loglevel", "error", "-fflags", "nobuffer"];
        if (Uri.TryCreate(_url, UriKind.Absolute, out var parsed) && parsed.UserInfo.Length > 0)
        {
            // Any local user can read /proc/<pid>/cmdline: a URL with credentials goes in a list file only this user can
            // read (ffmpeg's concat demuxer, which passes the stream options on), removed once ffmpeg has read it.
            _credentialsFile = WritePrivateList(_url, inputOptions);
            args.AddRange(["-f", "concat", "-safe", "0", "-protocol_whitelist", "file,rtsp,rtp,udp,tcp,http,https,tls,crypto", "-i", _credentialsFile]);
        }
        else
        {
            args.AddRange(inputOptions.Select((o, i) => i % 2 == 0 ? "-" + o : o));
            args.AddRange(["-i", _url]);
        }

        args.AddRange(["-an", "-f", "image2pipe", "-c:v", "bmp", "-pix_fmt", "bgr24", "pipe:1"]);
        args.ForEach(info.ArgumentList.Add);

        try
        {
            _ffmpeg = Process.Start(info) ?? throw new SourceException($"{Description}: cannot start ffmpeg");
        }
        catch (Win32Exception ex)
        {
            throw new SourceException($"{Description}: network streams are decoded by the ffmpeg program, which cannot be started ({ex.Message}); install it with apt-get install ffmpeg", ex);
        }

        _ffmpeg.ErrorDataReceived += (_, e) => Remember(e.Data);
        _ffmpeg.BeginErrorReadLine();
        _pipe = _ffmpeg.StandardOutput.BaseStream;

        // The first picture proves the stream works: a wrong path, refused connection or silent server fails here.
        var first = Task.Run(ReadBmp);
        var opened = first.Wait(_openTimeoutMs) && first.Result;
        DeleteCredentialsFile();
        if (!opened)
        {
            var why = first.IsCompleted ? LastErrors() : $"no picture within {_openTimeoutMs} ms";
            Dispose();
            throw new SourceException($"{Description}: cannot open the stream: {why}");
        }

        _firstPending = true;
        LogOpened(_logger, Description, Width, Height);
    }

    /// <inheritdoc />
    public bool Read(Mat destination)
    {
        if (_pipe is null)
        {
            throw new InvalidOperationException($"{Description}: Read before Open");
        }

        if (!_firstPending && !ReadBmp())
        {
            var why = LastErrors();
            LogLost(_logger, Description, why);
            return false;
        }

        _firstPending = false;
        CopyPixels(destination);
        return true;
    }

    /// <inheritdoc />
    public void Interrupt()
    {
        lock (_processLock)
        {
            try
            {
                _ffmpeg?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    /// <summary>Stops ffmpeg, which also releases a read blocked on its pipe.</summary>
    public void Dispose()
    {
        DeleteCredentialsFile();
        Interrupt();
        lock (_processLock)
        {
            _ffmpeg?.WaitForExit(5000);
            _ffmpeg?.Dispose();
            _ffmpeg = null;
        }
    }

    /// <summary>Why a BMP header from ffmpeg's pipe cannot be used, or null. The pixel copy trusts the header's data
    /// offset, width and height, so the rows they describe (24-bit, padded to 4 bytes) must lie inside the picture's own
    /// size, which is what is read from the pipe.</summary>
    public static string? CheckBmpHeader(ReadOnlySpan<byte> header)
    {
        var size = BinaryPrimitives.ReadInt32LittleEndian(header[2..]);
        var offset = BinaryPrimitives.ReadInt32LittleEndian(header[10..]);
        var width = BinaryPrimitives.ReadInt32LittleEndian(header[18..]);
        var height = BinaryPrimitives.ReadInt32LittleEndian(header[22..]);
        var bitsPerPixel = BinaryPrimitives.ReadInt16LittleEndian(header[28..]);
        if (header[0] != 'B' || header[1] != 'M' || bitsPerPixel != 24 || size < BmpHeaderBytes || size > MaxPictureBytes)
        {
            return $"not a 24-bit BMP ({size} bytes)";
        }

        if (width is <= 0 or > MaxSide || height == 0 || height < -MaxSide || height > MaxSide)
        {
            return $"impossible picture size {width}x{height}";
        }

        var rows = (((long)width * 3) + 3 & ~3L) * Math.Abs(height);
        return offset < BmpHeaderBytes || offset + rows > size
            ? $"pixel data ({width}x{Math.Abs(height)} from offset {offset}) does not fit the picture's {size} bytes"
            : null;
    }

    // One BMP as ffmpeg's encoder writes it: 14-byte file header, 40-byte info header, BGR rows padded to 4 bytes.
    private bool ReadBmp()
    {
        if (!ReadExactly(0, BmpHeaderBytes))
        {
            return false;
        }

        if (CheckBmpHeader(_buffer) is { } problem)
        {
            Remember($"unexpected picture data from ffmpeg: {problem}");
            return false;
        }

        var size = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(2));
        Width = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(18));
        Height = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(22));
        if (_buffer.Length < size)
        {
            Array.Resize(ref _buffer, size);
        }

        return ReadExactly(BmpHeaderBytes, size - BmpHeaderBytes);
    }

    // An ffconcat list naming the one stream, with its options, in a fresh folder only this user may enter (0700).
    private static string WritePrivateList(string url, string[] options)
    {
        var list = Path.Combine(Directory.CreateTempSubdirectory("inspection-ffmpeg-").FullName, "stream.ffconcat");
        var text = new System.Text.StringBuilder($"ffconcat version 1.0\nfile '{url.Replace("'", "'\\''", StringComparison.Ordinal)}'\n");
        for (var i = 0; i < options.Length; i += 2)
        {
            text.Append(CultureInfo.InvariantCulture, $"option {options[i]} {options[i + 1]}\n");
        }

        File.WriteAllText(list, text.ToString());
        return list;
    }

    private void DeleteCredentialsFile()
    {
        if (Interlocked.Exchange(ref _credentialsFile, null) is { } list)
        {
            Directory.Delete(Path.GetDirectoryName(list)!, recursive: true);
        }
    }

    private bool ReadExactly(int offset, int count)
    {
        try
        {
            _pipe!.ReadExactly(_buffer, offset, count);
            return true;
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException)
        {
            return false;
        }
    }

    private unsafe void CopyPixels(Mat destination)
    {
        var width = Width;
        var height = Math.Abs(Height);
        var bottomUp = Height > 0;
        var offset = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(10));
        var stride = ((width * 3) + 3) & ~3;
        destination.Create(height, width, MatType.CV_8UC3);
        fixed (byte* source = _buffer)
        {
            for (var y = 0; y < height; y++)
            {
                var row = source + offset + ((long)(bottomUp ? height - 1 - y : y) * stride);
                Buffer.MemoryCopy(row, (void*)destination.Ptr(y), width * 3, width * 3);
            }
        }
    }

    private void Remember(string? line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        lock (_errors)
        {
            _errors.Enqueue(line.Replace(_url, Config.Loading.EffectiveSettings.MaskUriCredentials(_url), StringComparison.Ordinal));
            while (_errors.Count > 3)
            {
                _errors.Dequeue();
            }
        }
    }

    private string LastErrors()
    {
        // ffmpeg prints its reason just before exiting; give the stderr reader a moment to catch it.
        _ffmpeg?.WaitForExit(500);
        lock (_errors)
        {
            return _errors.Count == 0 ? "ffmpeg stopped without saying why" : string.Join("; ", _errors);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source}: stream open, {Width}x{Height}")]
    private static partial void LogOpened(ILogger logger, string source, int width, int height);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source}: stream lost: {Reason}")]
    private static partial void LogLost(ILogger logger, string source, string reason);
}
