using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary><c>inspectiond bench</c> run as a process, where it cannot run.</summary>
public sealed class BenchCommandTests
{
    [Fact]
    public void Without_models_it_names_the_missing_package_and_how_to_make_models_without_a_stack_trace()
    {
        using var temp = new TempDirectory("bench-no-models");
        var models = temp.Combine("models");
        Directory.CreateDirectory(models);
        var config = temp.Combine("bench.json");
        File.WriteAllText(config, $$"""
            {"Models": {"Directory": "{{models}}"}, "Cameras": [{"Id": "cam", "Source": "synthetic://?width=64&height=48"}]}
            """);

        var (code, stdout, stderr) = CheckConfigCommandTests.RunDaemon(null, "bench", "--config", config, "--frames", "5");

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal(
            [
                $"inspectiond bench: {models}/classifier/current: no current classifier package (train one with 'trainer', or point Models:Directory at a folder that has one)",
                $"inspectiond bench: make models with 'trainer quickstart --out {models}' (small trained demo models) or 'trainer bench --export-models {models}' (the benchmarked networks, untrained: they cost the same to run)",
            ],
            stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
