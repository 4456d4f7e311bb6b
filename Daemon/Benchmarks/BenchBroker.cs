using System.Buffers;
using System.Globalization;

namespace Inspection.Daemon.Benchmarks;

/// <summary>Where the bench's results go: <c>in-process</c> (an MQTTnet broker inside the bench's process, the
/// default), <c>mosquitto</c> (a Mosquitto the bench starts on a free loopback port and stops afterwards) or
/// <c>HOST:PORT</c> (a running broker, anonymous, without TLS). With the last two the broker's CPU is outside the
/// daemon's process, as in a deployment.</summary>
internal sealed record BrokerChoice(string Kind, string Host = "127.0.0.1", int Port = 0)
{
    public const string InProcess = "in-process";
    public const string Mosquitto = "mosquitto";
    public const string External = "external";

    public static BrokerChoice Default { get; } = new(InProcess);

    /// <summary>Parses the <c>--broker</c> value; a bad one is an <see cref="ArgumentException"/> naming it.</summary>
    public static BrokerChoice Parse(string value)
    {
        if (value is InProcess or Mosquitto)
        {
            return new BrokerChoice(value);
        }

        var colon = value.LastIndexOf(':');
        if (colon > 0 && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
        {
            return new BrokerChoice(External, value[..colon].Trim('[', ']'), port);
        }

        throw new ArgumentException($"--broker '{value}': expected '{InProcess}', '{Mosquitto}' or HOST:PORT (e.g. 127.0.0.1:1883)");
    }

    public override string ToString() => Kind == External ? $"{Host}:{Port}" : Kind;
}

/// <summary>A broker the bench publishes to, which reports every result it receives (camera, seq, timestamp).</summary>
internal interface IBenchBroker : IAsyncDisposable
{
    string Host { get; }

    int Port { get; }

    /// <summary>Processes outside the bench's own whose CPU the report shows (name → pid): the broker, the observer.</summary>
    IReadOnlyDictionary<string, int> OutsideProcesses { get; }

    Task StartAsync();
}

/// <summary>Reads a result message: its camera from the topic <c>{prefix}/{device}/{camera}/result</c> and its
/// <c>seq</c> from the JSON payload, without parsing the rest.</summary>
internal sealed class ResultMessages(string topicRoot)
{
    private static readonly byte[] SeqField = "\"seq\":"u8.ToArray();
    private readonly string _prefix = topicRoot + "/";

    /// <summary>The camera of a result topic, or null for any other topic.</summary>
    public string? Camera(string topic) =>
        topic.StartsWith(_prefix, StringComparison.Ordinal) && topic.EndsWith("/result", StringComparison.Ordinal) && topic.Length > _prefix.Length + "/result".Length
            ? topic[_prefix.Length..^"/result".Length]
            : null;

    /// <summary>The payload's <c>seq</c>, or -1 when it has none.</summary>
    public static long Seq(ReadOnlySpan<byte> payload)
    {
        var at = payload.IndexOf(SeqField);
        if (at < 0)
        {
            return -1;
        }

        long seq = 0;
        var i = at + SeqField.Length;
        for (; i < payload.Length && payload[i] is >= (byte)'0' and <= (byte)'9'; i++)
        {
            seq = (seq * 10) + (payload[i] - '0');
        }

        return i == at + SeqField.Length ? -1 : seq;
    }

    public static long Seq(ReadOnlySequence<byte> payload) => Seq(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
}
