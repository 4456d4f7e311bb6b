using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.RegularExpressions;
using Inspection.Daemon.Logging;
using Inspection.Daemon.Tests.Deployment;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Tests.Hosting;

/// <summary>Logging to the journal's native socket: a unix datagram socket the test binds plays journald.</summary>
public sealed partial class JournalLoggerTests : IDisposable
{
    private const string Category = "Inspection.Daemon.Tests.Journal";
    private readonly TempDirectory _temp = new("journal");

    [Fact]
    [SuppressMessage("Performance", "CA1873:Avoid potentially expensive logging", Justification = "The test drives ILogger's extension methods with arbitrary templates, as any caller of the provider may.")]
    [SuppressMessage("Performance", "CA1848:Use the LoggerMessage delegates", Justification = "The test drives ILogger's extension methods with arbitrary templates, as any caller of the provider may.")]
    public async Task Entries_carry_message_priority_identifier_category_template_values_scopes_and_exceptions()
    {
        using var journal = new NotifySocketListener(_temp.Combine("socket"));
        using var console = new StringWriter();
        using var provider = new JournalLoggerProvider(journal.NotifySocket, console);
        using var factory = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Trace));
        var logger = factory.CreateLogger(Category);

        using (logger.BeginScope("request {RequestId}", "r-9"))
        {
            logger.LogWarning(new EventId(42, "Reconnecting"), "camera {Camera} reconnecting after {Attempts} tries", "cam1", 3);
        }

        logger.LogError(Thrown(), "inspection of {Part-Id} failed", "4711");
        logger.LogInformation("first line\nsecond line {Priority}, {_hidden} {9lives}", "high", "h", "cat");

        var warning = Parse(await journal.ReceiveBytesAsync());
        Assert.Equal("camera cam1 reconnecting after 3 tries", Single(warning, "MESSAGE"));
        Assert.Equal("4", Single(warning, "PRIORITY"));
        Assert.Equal("inspectiond", Single(warning, "SYSLOG_IDENTIFIER"));
        Assert.Equal(Category, Single(warning, "CATEGORY"));
        Assert.Equal("42", Single(warning, "EVENT_ID"));
        Assert.Equal("cam1", Single(warning, "CAMERA"));
        Assert.Equal("3", Single(warning, "ATTEMPTS"));
        Assert.Equal("r-9", Single(warning, "REQUESTID"));
        Assert.DoesNotContain(warning, f => f.Name is "EXCEPTION" or "ORIGINALFORMAT");

        var error = Parse(await journal.ReceiveBytesAsync());
        Assert.Equal("3", Single(error, "PRIORITY"));
        Assert.Equal("4711", Single(error, "PART_ID"));
        Assert.DoesNotContain(error, f => f.Name is "EVENT_ID" or "REQUESTID");
        var exception = Single(error, "EXCEPTION");
        Assert.StartsWith("System.InvalidOperationException: boom\n", exception.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains(nameof(Thrown), exception, StringComparison.Ordinal);

        // Newlines travel in the length-prefixed form; a template value cannot pose as the entry's own PRIORITY.
        var multiLine = Parse(await journal.ReceiveBytesAsync());
        Assert.Equal("first line\nsecond line high, h cat", Single(multiLine, "MESSAGE"));
        Assert.Equal("6", Single(multiLine, "PRIORITY"));
        Assert.Equal("high", Single(multiLine, "ARG_PRIORITY"));
        Assert.Equal("h", Single(multiLine, "HIDDEN"));
        Assert.Equal("cat", Single(multiLine, "ARG_9LIVES"));

        Assert.All(warning.Concat(error).Concat(multiLine), f => Assert.Matches(JournalFieldName(), f.Name));
        Assert.True(journal.IsEmpty);
    }

    [Fact]
    [SuppressMessage("Performance", "CA1873:Avoid potentially expensive logging", Justification = "The test drives ILogger's extension methods with arbitrary templates, as any caller of the provider may.")]
    [SuppressMessage("Performance", "CA1848:Use the LoggerMessage delegates", Justification = "The test drives ILogger's extension methods with arbitrary templates, as any caller of the provider may.")]
    public void Without_a_listening_journal_every_entry_goes_to_the_fallback_and_nothing_throws()
    {
        var gone = _temp.Combine("gone");
        new NotifySocketListener(gone).Dispose(); // the socket file stays, nobody listens: sends are refused
        foreach (var path in new[] { _temp.Combine("missing", "socket"), gone })
        {
            using var console = new StringWriter();
            using var provider = new JournalLoggerProvider(path, console);
            var logger = provider.CreateLogger(Category);

            logger.LogInformation("camera {Camera} reconnecting", "cam1");
            logger.LogError(new EventId(7), Thrown(), "inspection of {PartId} failed", "4711");

            var lines = console.ToString().ReplaceLineEndings("\n");
            Assert.Contains($"journal socket {path} not usable", lines, StringComparison.Ordinal);
            Assert.Contains($"\n<6>{Category}[0] camera cam1 reconnecting\n", lines, StringComparison.Ordinal);
            Assert.Contains($"\n<3>{Category}[7] inspection of 4711 failed\nSystem.InvalidOperationException: boom\n", lines, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("journal", null, null, true)]
    [InlineData("console", "8:4711", "socket:[4711]", false)]
    [InlineData(null, "8:4711", "socket:[4711]", true)]
    [InlineData(null, "8:4711", "pipe:[4711]", false)] // output redirected by a parent that runs under systemd
    [InlineData(null, "8:4711", "socket:[999]", false)]
    [InlineData(null, null, "socket:[4711]", false)]
    public void The_journal_is_used_when_switched_on_or_when_systemd_connected_stdout_to_it(string? logSwitch, string? journalStream, string? stdout, bool expected) =>
        Assert.Equal(expected, JournalLoggerProvider.UseJournal(logSwitch, journalStream, [stdout, "/dev/null"]));

    [Fact]
    public async Task The_daemon_process_logs_its_entries_to_the_journal_socket_with_fields()
    {
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(_temp, broker.Port);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        using var journal = new NotifySocketListener(_temp.Combine("journal.socket"));
        using var process = DaemonProcess.Start(ProcessTests.WriteConfig(daemon), new Dictionary<string, string>
        {
            [JournalLoggerProvider.SwitchVariable] = "journal",
            [JournalLoggerProvider.SocketVariable] = journal.NotifySocket,
        });
        var stdout = process.StandardOutput.ReadToEndAsync();
        List<(string Name, string Value)> connected;
        try
        {
            do
            {
                connected = Parse(await journal.ReceiveBytesAsync(TimeSpan.FromSeconds(60)));
            }
            while (!Single(connected, "MESSAGE").StartsWith("MQTT connected", StringComparison.Ordinal));
        }
        finally
        {
            DaemonProcess.Terminate(process);
        }

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after SIGTERM");
        Assert.Equal("inspectiond", Single(connected, "SYSLOG_IDENTIFIER"));
        Assert.Equal("Inspection.Daemon.Publishing.MqttConnection", Single(connected, "CATEGORY"));
        Assert.Equal("6", Single(connected, "PRIORITY"));
        Assert.Equal($"{broker.Port}", Single(connected, "PORT"));
        Assert.Equal(DaemonUnderTest.Root, Single(connected, "ROOT"));
        Assert.DoesNotContain("MQTT connected", await stdout, StringComparison.Ordinal);
    }

    /// <summary>Reads journald's native protocol: <c>NAME=value\n</c>, or <c>NAME\n</c> + 64-bit LE length + value + <c>\n</c>.</summary>
    private static List<(string Name, string Value)> Parse(byte[] datagram)
    {
        var fields = new List<(string, string)>();
        var at = 0;
        while (at < datagram.Length)
        {
            var end = Array.FindIndex(datagram, at, b => b is (byte)'=' or (byte)'\n');
            Assert.True(end >= 0, "field without '=' or newline");
            var name = Encoding.ASCII.GetString(datagram, at, end - at);
            if (datagram[end] == '=')
            {
                var newline = Array.IndexOf(datagram, (byte)'\n', end + 1);
                fields.Add((name, Encoding.UTF8.GetString(datagram, end + 1, newline - end - 1)));
                at = newline + 1;
            }
            else
            {
                var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(datagram.AsSpan(end + 1, 8));
                fields.Add((name, Encoding.UTF8.GetString(datagram, end + 9, length)));
                Assert.Equal((byte)'\n', datagram[end + 9 + length]);
                at = end + 10 + length;
            }
        }

        return fields;
    }

    private static string Single(List<(string Name, string Value)> fields, string name) => Assert.Single(fields, f => f.Name == name).Value;

    private static InvalidOperationException Thrown()
    {
        try
        {
            throw new InvalidOperationException("boom");
        }
        catch (InvalidOperationException ex)
        {
            return ex;
        }
    }

    [GeneratedRegex("^[A-Z][A-Z0-9_]{0,63}$")]
    private static partial Regex JournalFieldName();

    public void Dispose() => _temp.Dispose();
}
