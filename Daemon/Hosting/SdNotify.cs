using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Inspection.Daemon.Hosting;

/// <summary>
/// A small sd_notify(3) client: sends state lines (READY=1, STATUS=…, WATCHDOG=1, STOPPING=1) as one datagram to the
/// unix socket systemd names in <c>NOTIFY_SOCKET</c> (a path, or '@' for the abstract namespace). Outside systemd the
/// variable is unset and every call is a no-op, so the daemon runs the same from a shell.
/// </summary>
internal sealed class SdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endPoint;
    private readonly Lock _sendLock = new();

    /// <summary>Connects to <paramref name="notifySocket"/> (null or empty: disabled).</summary>
    /// <param name="notifySocket">The value of NOTIFY_SOCKET.</param>
    /// <param name="watchdogInterval">WatchdogSec= of the unit (from WATCHDOG_USEC), or null when the watchdog is off.</param>
    public SdNotify(string? notifySocket, TimeSpan? watchdogInterval = null)
    {
        WatchdogInterval = watchdogInterval;
        if (string.IsNullOrEmpty(notifySocket))
        {
            return;
        }

        // Only unix sockets: systemd ≥ 254 may also hand out vsock addresses inside VMs, which this daemon never runs in.
        if (notifySocket[0] is not ('/' or '@'))
        {
            throw new ArgumentException($"NOTIFY_SOCKET '{notifySocket}' is neither a path nor an abstract socket ('@name')", nameof(notifySocket));
        }

        // The abstract namespace is spelled with a leading NUL byte at the socket level.
        _endPoint = new UnixDomainSocketEndPoint(notifySocket[0] == '@' ? "\0" + notifySocket[1..] : notifySocket);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>True when NOTIFY_SOCKET was set: the process runs under systemd with Type=notify (or NotifyAccess=).</summary>
    public bool IsEnabled => _socket is not null;

    /// <summary>The unit's WatchdogSec= (systemd kills the service when no WATCHDOG=1 arrives within it), or null.</summary>
    public TimeSpan? WatchdogInterval { get; }

    /// <summary>Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from <paramref name="environment"/> (default: this process's).</summary>
    public static SdNotify FromEnvironment(IReadOnlyDictionary<string, string?>? environment = null)
    {
        string? Get(string name) => environment is null
            ? Environment.GetEnvironmentVariable(name)
            : environment.TryGetValue(name, out var value) ? value : null;
        return new SdNotify(Get("NOTIFY_SOCKET"), ParseWatchdog(Get("WATCHDOG_USEC"), Get("WATCHDOG_PID"), Environment.ProcessId));
    }

    /// <summary>
    /// The watchdog interval systemd passes as WATCHDOG_USEC (microseconds); null when unset, not a positive number,
    /// or when WATCHDOG_PID names another process (the variables were inherited from a parent, as sd_watchdog_enabled does).
    /// </summary>
    public static TimeSpan? ParseWatchdog(string? watchdogUsec, string? watchdogPid, int processId)
    {
        if (!ulong.TryParse(watchdogUsec, NumberStyles.None, CultureInfo.InvariantCulture, out var usec) || usec == 0)
        {
            return null;
        }

        if (!string.IsNullOrEmpty(watchdogPid)
            && (!int.TryParse(watchdogPid, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid != processId))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(usec);
    }

    /// <summary>
    /// Parses a systemd time span as written in unit files (<c>WatchdogSec=</c>, <c>TimeoutStopSec=</c>): "90", "30s",
    /// "1min 30s", "2m", "500ms", "1h", "infinity" (→ <see cref="Timeout.InfiniteTimeSpan"/>). A bare number means seconds.
    /// </summary>
    public static TimeSpan ParseTimeSpan(string text)
    {
        var value = text.Trim();
        if (value == "infinity")
        {
            return Timeout.InfiniteTimeSpan;
        }

        var total = TimeSpan.Zero;
        var i = 0;
        var sawPart = false;
        while (i < value.Length)
        {
            while (i < value.Length && char.IsWhiteSpace(value[i]))
            {
                i++;
            }

            var start = i;
            while (i < value.Length && (char.IsAsciiDigit(value[i]) || value[i] == '.'))
            {
                i++;
            }

            if (start == i)
            {
                throw new FormatException($"'{text}' is not a systemd time span (expected e.g. 30s, 1min 30s, 500ms)");
            }

            var number = double.Parse(value.AsSpan(start, i - start), CultureInfo.InvariantCulture);
            while (i < value.Length && char.IsWhiteSpace(value[i]))
            {
                i++;
            }

            var unitStart = i;
            while (i < value.Length && char.IsAsciiLetter(value[i]))
            {
                i++;
            }

            total += value[unitStart..i] switch
            {
                "" or "s" or "sec" or "second" or "seconds" => TimeSpan.FromSeconds(number),
                "ms" or "msec" => TimeSpan.FromMilliseconds(number),
                "us" or "usec" => TimeSpan.FromMicroseconds(number),
                "m" or "min" or "minute" or "minutes" => TimeSpan.FromMinutes(number),
                "h" or "hr" or "hour" or "hours" => TimeSpan.FromHours(number),
                "d" or "day" or "days" => TimeSpan.FromDays(number),
                var unit => throw new FormatException($"'{text}': unknown time unit '{unit}'"),
            };
            sawPart = true;
        }

        return sawPart ? total : throw new FormatException($"'{text}' is not a systemd time span");
    }

    /// <summary>Startup is done: models are loaded and the broker connection was attempted. Optionally with a status line.</summary>
    public bool Ready(string? status = null) => Send(status is null ? "READY=1" : $"READY=1\nSTATUS={OneLine(status)}");

    /// <summary>A free-form status line shown by <c>systemctl status</c>.</summary>
    public bool Status(string status) => Send($"STATUS={OneLine(status)}");

    /// <summary>Keep-alive for WatchdogSec=; optionally with a status line in the same datagram.</summary>
    public bool Watchdog(string? status = null) => Send(status is null ? "WATCHDOG=1" : $"WATCHDOG=1\nSTATUS={OneLine(status)}");

    /// <summary>The service is shutting down (systemd then waits up to TimeoutStopSec=).</summary>
    public bool Stopping(string? status = null) => Send(status is null ? "STOPPING=1" : $"STOPPING=1\nSTATUS={OneLine(status)}");

    /// <summary>Asks for more time to start or stop than TimeoutStartSec=/TimeoutStopSec= allow (e.g. a slow first CUDA start).</summary>
    public bool ExtendTimeout(TimeSpan extra) => Send($"EXTEND_TIMEOUT_USEC={(long)extra.TotalMicroseconds}");

    /// <summary>Sends raw newline-separated assignments. False when disabled or when the socket is gone (never throws:
    /// a lost notification must not take the daemon down; systemd's own timeouts then tell the operator).</summary>
    public bool Send(string state)
    {
        if (_socket is null || _endPoint is null)
        {
            return false;
        }

        var bytes = Encoding.UTF8.GetBytes(state);
        try
        {
            lock (_sendLock)
            {
                return _socket.SendTo(bytes, SocketFlags.None, _endPoint) == bytes.Length;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _socket?.Dispose();

    // A newline would start a new assignment: STATUS= must stay one line.
    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
