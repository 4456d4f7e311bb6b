using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Text;

namespace Inspection.Daemon.Benchmarks;

/// <summary>A broker in another process: a Mosquitto the bench starts on a free loopback port (and stops), or one
/// already running at HOST:PORT. Results are observed by a <c>mosquitto_sub</c> child (line-buffered through
/// <c>stdbuf</c>) whose output one thread of the bench reads, so neither the broker's nor the subscriber's work runs
/// in the bench's process.</summary>
internal sealed class ExternalBroker : IBenchBroker
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly Process? _broker;
    private readonly string _topicRoot;
    private readonly Action<string, long, long> _arrived;
    private readonly ResultMessages _results;
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, int> _outside = [];
    private Process? _observer;
    private string _observerError = "";

    private ExternalBroker(string host, int port, Process? broker, string topicRoot, Action<string, long, long> arrived)
    {
        Host = host;
        Port = port;
        _broker = broker;
        _topicRoot = topicRoot;
        _arrived = arrived;
        _results = new ResultMessages(topicRoot);
        if (broker is not null)
        {
            _outside["broker (mosquitto)"] = broker.Id;
        }
    }

    public string Host { get; }

    public int Port { get; }

    public IReadOnlyDictionary<string, int> OutsideProcesses => _outside;

    /// <summary>A running broker at <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static ExternalBroker Connect(string host, int port, string topicRoot, Action<string, long, long> arrived) =>
        new(host, port, broker: null, topicRoot, arrived);

    /// <summary>Starts Mosquitto on a free loopback port (anonymous, no persistence, its config in
    /// <paramref name="folder"/>) and waits until it listens.</summary>
    public static ExternalBroker StartMosquitto(string folder, int port, string topicRoot, Action<string, long, long> arrived)
    {
        var config = Path.Combine(folder, "mosquitto.conf");
        File.WriteAllText(config, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
        var broker = StartTool("mosquitto", ["-c", config], "--broker mosquitto needs Mosquitto (apt install mosquitto)");
        broker.OutputDataReceived += (_, _) => { };
        broker.ErrorDataReceived += (_, _) => { };
        broker.BeginOutputReadLine(); // its log is not needed; read so that a full pipe never blocks it
        broker.BeginErrorReadLine();
        var waited = Stopwatch.StartNew();
        while (!Listens(port))
        {
            if (broker.HasExited || waited.Elapsed > StartTimeout)
            {
                Stop(broker);
                throw new ArgumentException($"--broker mosquitto: Mosquitto did not start listening on 127.0.0.1:{port}");
            }

            Thread.Sleep(20);
        }

        return new ExternalBroker("127.0.0.1", port, broker, topicRoot, arrived);
    }

    /// <summary>Starts the observer and returns once its subscription is in place.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "The bench starts the observer once; the field is null before.")]
    public async Task StartAsync()
    {
        _observer = StartTool(
            "stdbuf",
            ["-oL", "mosquitto_sub", "-h", Host, "-p", $"{Port}", "-q", "1", "-v", "-d", "-t", $"{_topicRoot}/+/result"],
            "--broker needs mosquitto_sub (apt install mosquitto-clients) and stdbuf (coreutils)");
        _outside["observer (mosquitto_sub)"] = _observer.Id;
        new Thread(Observe) { IsBackground = true, Name = "bench-observer" }.Start();
        _observer.ErrorDataReceived += (_, e) => _observerError += e.Data is null ? "" : e.Data + " ";
        _observer.BeginErrorReadLine();
        if (await Task.WhenAny(_subscribed.Task, Task.Delay(StartTimeout)).ConfigureAwait(false) != _subscribed.Task)
        {
            throw new TimeoutException($"--broker {Host}:{Port}: mosquitto_sub did not subscribe within {StartTimeout.TotalSeconds:0} s");
        }

        await _subscribed.Task.ConfigureAwait(false);
    }

    // mosquitto_sub -v prints "topic payload" per message; -d adds debug lines, among them "Subscribed ..." once the
    // broker acknowledged the subscription.
    private void Observe()
    {
        var output = _observer!.StandardOutput;
        while (ReadLineOrEnd(output) is { } line)
        {
            var now = Stopwatch.GetTimestamp();
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0 && _results.Camera(line[..space]) is { } camera && ResultMessages.Seq(Encoding.UTF8.GetBytes(line, space + 1, line.Length - space - 1)) is > 0 and var seq)
            {
                _arrived(camera, seq, now);
            }
            else if (line.StartsWith("Subscribed", StringComparison.Ordinal))
            {
                _subscribed.TrySetResult();
            }
        }

        try
        {
            _observer.WaitForExit();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // Disposed by the bench's stop while this thread read its last line: the run is over, nothing to report.
            return;
        }

        _subscribed.TrySetException(new ArgumentException($"--broker {Host}:{Port}: mosquitto_sub could not subscribe: {_observerError.Trim()}"));
    }

    // The stream is closed when the bench stops the observer; that ends the loop like the end of its output.
    private static string? ReadLineOrEnd(StreamReader output)
    {
        try
        {
            return output.ReadLine();
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }

    private static Process StartTool(string program, string[] args, string missing)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            return Process.Start(start) ?? throw new ArgumentException(missing);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ArgumentException(missing);
        }
    }

    private static bool Listens(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "Stop ends and disposes a process this class started (the broker or the observer).")]
    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        if (_observer is not null)
        {
            Stop(_observer);
        }

        if (_broker is not null)
        {
            Stop(_broker);
        }

        return ValueTask.CompletedTask;
    }
}
