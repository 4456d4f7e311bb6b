using System.Diagnostics.CodeAnalysis;
using Inspection.TestSupport;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests;

public sealed class NativeTorchTests
{
    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    public void Libtorch_loads_and_runs_a_convolution_with_backward()
    {
        using var scope = NewDisposeScope();
        var input = randn(2, 1, 8, 8, requires_grad: true);
        using var conv = nn.Conv2d(1, 4, 3, padding: 1);

        var output = conv.forward(input);
        var loss = output.square().mean();
        loss.backward();

        Assert.Equal([2L, 4L, 8L, 8L], output.shape);
        Assert.NotNull(input.grad);
        Assert.True(input.grad!.abs().sum().item<float>() > 0, "the backward pass produced no gradient");
        Assert.True(conv.weight!.grad!.abs().sum().item<float>() > 0);
    }

    [RequiresToolFact("readelf")]
    public void Patch_script_marks_the_glibcxx_requirement_weak_and_is_idempotent()
    {
        var packaged = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages", "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (nugetRoot is not null)
        {
            packaged = Path.Combine(nugetRoot, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        }

        Assert.True(File.Exists(packaged), $"TorchSharp's packaged library not found at {packaged}");
        using var dir = new TempDirectory("patch");
        var copy = dir.Combine("libLibTorchSharp.so");
        File.Copy(packaged, copy);
        var script = Path.Combine(Repository.Root, "build", "patch-torchsharp.sh");

        Assert.Contains("GLIBCXX_3.4.32  Flags: none", Tools.Run("readelf", "-V", copy), StringComparison.Ordinal);
        var first = Tools.Run("bash", script, "--force", copy);
        var second = Tools.Run("bash", script, "--force", copy);

        Assert.Contains("marked GLIBCXX_3.4.32 weak", first, StringComparison.Ordinal);
        Assert.Equal("", second.Trim());
        Assert.Contains("GLIBCXX_3.4.32  Flags: WEAK", Tools.Run("readelf", "-V", copy), StringComparison.Ordinal);
        Assert.Equal(new FileInfo(packaged).Length, new FileInfo(copy).Length);
    }

    [Fact]
    public void Build_output_is_patched_only_where_the_system_libstdcxx_lacks_the_version()
    {
        var output = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        var systemHasIt = File.ReadAllText("/etc/os-release").Length > 0 && SystemLibStdCxxHas("GLIBCXX_3.4.32");

        var elf = Tools.Run("readelf", "-V", output);

        Assert.Contains(systemHasIt ? "GLIBCXX_3.4.32  Flags: none" : "GLIBCXX_3.4.32  Flags: WEAK", elf, StringComparison.Ordinal);
    }

    private static bool SystemLibStdCxxHas(string version)
    {
        var candidates = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" };
        var lib = candidates.First(File.Exists);
        return System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(lib)).Contains(version, StringComparison.Ordinal);
    }
}
