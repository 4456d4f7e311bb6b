using Xunit;

namespace Inspection.TestSupport;

/// <summary>A daemon test class's common parts, fresh for every test (xunit makes one instance per test): a temp folder,
/// an in-process broker on a free loopback port, and a probe subscribed to every topic on it.</summary>
public abstract class BrokerTestBase(string tempPrefix) : IAsyncLifetime
{
    protected TempDirectory Temp { get; } = new(tempPrefix);

    protected TestBroker Broker { get; private set; } = null!;

    protected MqttProbe Probe { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Broker = new TestBroker();
        await Broker.StartAsync();
        Probe = await MqttProbe.ConnectAsync(Broker.Port);
    }

    public virtual async Task DisposeAsync()
    {
        await Probe.DisposeAsync();
        await Broker.DisposeAsync();
        Temp.Dispose();
    }
}
