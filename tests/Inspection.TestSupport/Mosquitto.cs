using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Inspection.TestSupport;

/// <summary>A real Mosquitto on a loopback port, anonymous and without persistence, that a test can restart on the same
/// port (a broker restart: retained messages and sessions are gone, clients must reconnect and resubscribe). Extra
/// configuration lines (an ACL, persistence for persistent subscribers) may be given.</summary>
public sealed class Mosquitto : IDisposable
{
    private readonly string _config;
    private Process _broker;

    public Mosquitto(TempDirectory temp, string extraConfig = "persistence false\n")
    {
        Port = Tools.FreePort();
        _config = temp.Combine($"mosquitto-{Port}.conf");
        File.WriteAllText(_config, $"listener {Port} 127.0.0.1\nallow_anonymous true\n{extraConfig}");
        _broker = StartAndWait(_config, Port);
    }

    public int Port { get; }

    /// <summary>Configuration for a broker that keeps persistent subscribers' sessions and queues (no limit) across a
    /// SIGTERM'd restart (<see cref="Terminate"/>, <see cref="Start"/>). Started as root, Mosquitto would drop to the
    /// "mosquitto" user, which cannot write the test's folder; "user" keeps the test's own user.</summary>
    public static string Persistent(TempDirectory temp) =>
        $"persistence true\npersistence_location {temp.Path}/\nmax_queued_messages 0\nuser {Environment.UserName}\n";

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = "Stop ends and disposes the previous broker process.")]
    public void Restart()
    {
        Stop(_broker);
        _broker = StartAndWait(_config, Port);
    }

    /// <summary>Stops the broker as an operator would (SIGTERM: a persistent broker saves its sessions and queues).</summary>
    public void Terminate()
    {
        Tools.Run("kill", "-TERM", _broker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _broker.WaitForExit();
    }

    /// <summary>Starts the broker again after <see cref="Terminate"/>, on the same port and configuration.</summary>
    public void Start()
    {
        _broker.Dispose();
        _broker = StartAndWait(_config, Port);
    }

    /// <summary>Starts Mosquitto with a config file and waits until it listens on <paramref name="port"/>.</summary>
    public static Process StartAndWait(string config, int port)
    {
        var broker = Tools.Start("mosquitto", ["-c", config]);
        Tools.WaitForPort(port, server: broker);
        return broker;
    }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP007:Don't dispose injected", Justification = "Stop ends and releases the broker process its caller hands over.")]
    public static void Stop(Process broker)
    {
        if (!broker.HasExited)
        {
            broker.Kill();
            broker.WaitForExit();
        }

        broker.Dispose();
    }

    public void Dispose() => Stop(_broker);
}
