using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Logging;

/// <summary>Logs to the systemd journal through its native socket, one datagram per entry, with structured fields:
/// MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CATEGORY, EVENT_ID, EXCEPTION and every key/value of the message template and
/// of the scopes in upper case (<c>"camera {Camera} reconnecting"</c> gives <c>CAMERA=cam1</c>), so that
/// <c>journalctl -u inspectiond CAMERA=cam1</c> works. When the socket is missing or a send fails the entry goes to the
/// fallback writer as one <c>&lt;priority&gt;category[event] message</c> line instead: logging never throws and
/// never loses a line.</summary>
internal sealed class JournalLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    public const string DefaultSocket = "/run/systemd/journal/socket";

    /// <summary>Overrides <see cref="DefaultSocket"/> (tests).</summary>
    public const string SocketVariable = "INSPECTION_JOURNAL_SOCKET";

    /// <summary><c>journal</c> or <c>console</c> forces the choice <see cref="UseJournal"/> makes otherwise.</summary>
    public const string SwitchVariable = "INSPECTION_LOG";

    public const string Identifier = "inspectiond";

    private static readonly string[] StandardStreams = ["/proc/self/fd/1", "/proc/self/fd/2"];

    private static readonly HashSet<string> OwnFields = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CATEGORY", "EVENT_ID", "EXCEPTION"];
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly UnixDomainSocketEndPoint _journal;
    private readonly TextWriter _fallback;
    private readonly Lock _fallbackLock = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();
    private int _fallbackAnnounced;

    public JournalLoggerProvider(string socketPath, TextWriter fallback)
    {
        SocketPath = socketPath;
        _journal = new UnixDomainSocketEndPoint(socketPath);
        _fallback = fallback;
    }

    public string SocketPath { get; }

    /// <summary>The journal provider for this process: the socket from <see cref="SocketVariable"/> or the default,
    /// falling back to standard output.</summary>
    public static JournalLoggerProvider ForProcess() =>
        new(Environment.GetEnvironmentVariable(SocketVariable) is { Length: > 0 } path ? path : DefaultSocket, Console.Out);

    /// <summary>True when <see cref="SwitchVariable"/> says <c>journal</c>, or, without a switch, when systemd connected
    /// stdout or stderr to the journal: <c>JOURNAL_STREAM</c> (<c>device:inode</c>) names the socket that fd 1 or 2
    /// is (a child whose output a test redirects inherits the variable but not the socket).</summary>
    public static bool UseJournal(string? logSwitch, string? journalStream, IEnumerable<string?> standardStreamTargets)
    {
        if (!string.IsNullOrEmpty(logSwitch))
        {
            return logSwitch.Equals("journal", StringComparison.OrdinalIgnoreCase);
        }

        var inode = journalStream?.Split(':') is [_, var i] ? i : null;
        return inode is { Length: > 0 } && standardStreamTargets.Contains($"socket:[{inode}]");
    }

    /// <summary><see cref="UseJournal"/> for this process.</summary>
    public static bool UseJournalForProcess() => UseJournal(
        Environment.GetEnvironmentVariable(SwitchVariable),
        Environment.GetEnvironmentVariable("JOURNAL_STREAM"),
        StandardStreams.Select(LinkTarget));

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public ILogger CreateLogger(string categoryName) => new JournalLogger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public static int Priority(LogLevel level) => level switch
    {
        LogLevel.Critical => 2,
        LogLevel.Error => 3,
        LogLevel.Warning => 4,
        LogLevel.Information => 6,
        _ => 7,
    };

    private void Write<TState>(string category, LogLevel level, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = Format(state, exception, formatter);
        try
        {
            var entry = new JournalEntry();
            entry.Add("MESSAGE", message);
            entry.Add("PRIORITY", Priority(level).ToString(System.Globalization.CultureInfo.InvariantCulture));
            entry.Add("SYSLOG_IDENTIFIER", Identifier);
            entry.Add("CATEGORY", category);
            if (eventId.Id != 0)
            {
                entry.Add("EVENT_ID", eventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            if (exception is not null)
            {
                entry.Add("EXCEPTION", exception.ToString());
            }

            _scopes.ForEachScope(static (scope, e) => AddPairs(e, scope), entry);
            AddPairs(entry, state);
            _socket.SendTo(entry.Bytes, SocketFlags.None, _journal);
        }
        catch (Exception ex)
        {
            Fallback(ex, category, level, eventId, message, exception);
        }
    }

    private static void AddPairs(JournalEntry entry, object? values)
    {
        if (values is not IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            return;
        }

        foreach (var (key, value) in pairs)
        {
            if (key != "{OriginalFormat}" && JournalEntry.FieldName(key) is { } name)
            {
                // A template value must not pose as one of the entry's own fields (a {Priority} would change the level).
                entry.Add(OwnFields.Contains(name) ? "ARG_" + name : name, JournalEntry.Value(value));
            }
        }
    }

    private static string Format<TState>(TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            return formatter(state, exception);
        }
        catch (Exception ex)
        {
            return $"(message could not be formatted: {ex.Message}) {state}";
        }
    }

    // The same line shape as the console's systemd format, so stdout in the journal still gets the right priority.
    private void Fallback(Exception why, string category, LogLevel level, EventId eventId, string message, Exception? exception)
    {
        try
        {
            lock (_fallbackLock)
            {
                if (Interlocked.Exchange(ref _fallbackAnnounced, 1) == 0)
                {
                    _fallback.WriteLine($"<4>{typeof(JournalLoggerProvider).FullName}[0] journal socket {SocketPath} not usable ({why.Message}); logging to standard output");
                }

                _fallback.WriteLine($"<{Priority(level)}>{category}[{eventId.Id}] {message}");
                if (exception is not null)
                {
                    _fallback.WriteLine(exception.ToString());
                }

                _fallback.Flush();
            }
        }
        catch (Exception)
        {
            // Nowhere left to write to (stdout closed): logging must not take the daemon down.
        }
    }

    public void Dispose() => _socket.Dispose();

    private sealed class JournalLogger(JournalLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(category, logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
