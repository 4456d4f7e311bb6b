using System.Text.Json.Nodes;

namespace Inspection.Daemon.Tests;

/// <summary>The .NET runtime settings <c>inspectiond</c> starts with (<c>inspectiond.runtimeconfig.json</c>, which
/// <c>dotnet inspectiond.dll</c> and the apphost read).</summary>
public sealed class RuntimeConfigTests
{
    [Fact]
    public void Thread_pool_workers_do_not_spin_while_waiting_for_work()
    {
        var properties = DaemonRuntimeProperties();

        Assert.Equal(0, (int)properties["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"]!);
    }

    [Fact]
    public void Dynamic_pgo_is_off_so_hot_methods_are_compiled_twice_not_three_times()
    {
        var properties = DaemonRuntimeProperties();

        Assert.False((bool)properties["System.Runtime.TieredPGO"]!);
    }

    // The runtimeconfig.json beside the daemon's assembly is the one the runtime reads at the daemon's start.
    private static JsonNode DaemonRuntimeProperties() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "inspectiond.runtimeconfig.json")))!["runtimeOptions"]!["configProperties"]!;
}
