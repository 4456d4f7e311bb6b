using System.Net.Sockets;
using System.Text;

namespace Inspection.Daemon.Tests.Hosting;

/// <summary>Plays systemd's side of sd_notify (and of the journal's native socket): a bound unix datagram socket that
/// collects what the daemon sends.</summary>
internal sealed class NotifySocketListener : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    /// <summary>Binds a socket file at <paramref name="path"/>, or an abstract socket when it starts with '@'.</summary>
    public NotifySocketListener(string path)
    {
        NotifySocket = path;
        _socket.Bind(new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path));
    }

    /// <summary>The value to hand the daemon as NOTIFY_SOCKET.</summary>
    public string NotifySocket { get; }

    /// <summary>The next datagram as text, or a failure after <paramref name="timeout"/>.</summary>
    public async Task<string> ReceiveAsync(TimeSpan? timeout = null) => Encoding.UTF8.GetString(await ReceiveBytesAsync(timeout));

    /// <summary>The next datagram, or a failure after <paramref name="timeout"/>.</summary>
    public async Task<byte[]> ReceiveBytesAsync(TimeSpan? timeout = null)
    {
        var buffer = new byte[256 * 1024];
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var count = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return buffer[..count];
    }

    /// <summary>True when no datagram is waiting.</summary>
    public bool IsEmpty => _socket.Available == 0;

    public void Dispose() => _socket.Dispose();
}
