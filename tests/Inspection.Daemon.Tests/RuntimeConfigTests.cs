using System.Text.Json.Nodes;

namespace Inspection.Daemon.Tests;

/// <summary>The .NET runtime settings <c>inspectiond</c> starts with (<c>inspectiond.runtimeconfig.json</c>, which
/// <c>dotnet inspectiond.dll</c> and the apphost read).</summary>
public sealed class RuntimeConfigTests
{
    [Fact]
    public void Thread_pool_workers_do_not_spin_while_waiting_for_work()
    {
        // The runtimeconfig.json beside the daemon's assembly is the one the runtime reads at the daemon's start.
        var path = Path.Combine(AppContext.BaseDirectory, "inspectiond.runtimeconfig.json");
        var properties = JsonNode.Parse(File.ReadAllText(path))!["runtimeOptions"]!["configProperties"]!;

        Assert.Equal(0, (int)properties["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"]!);
    }
}
