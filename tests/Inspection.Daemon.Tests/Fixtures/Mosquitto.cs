using System.Diagnostics;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.Fixtures;

/// <summary>A real Mosquitto on a loopback port, anonymous and without persistence, that a test can restart on the same
/// port (a broker restart: retained messages and sessions are gone, clients must reconnect and resubscribe).</summary>
public sealed class Mosquitto : IDisposable
{
    private readonly string _config;
    private Process _broker;

    public Mosquitto(TempDirectory temp)
    {
        Port = Tools.FreePort();
        _config = temp.Combine($"mosquitto-{Port}.conf");
        File.WriteAllText(_config, $"listener {Port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
        _broker = StartAndWait(_config, Port);
    }

    public int Port { get; }

    public void Restart()
    {
        Stop(_broker);
        _broker = StartAndWait(_config, Port);
    }

    /// <summary>Starts Mosquitto with a config file and waits until it listens on <paramref name="port"/>.</summary>
    public static Process StartAndWait(string config, int port)
    {
        var broker = Tools.Start("mosquitto", ["-c", config]);
        Tools.WaitForPort(port, server: broker);
        return broker;
    }

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
