using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Inspection.Trainer.Tests.Training;

/// <summary>
/// The trainer keeps freed tensor memory for the next step instead of unmapping it (<c>Trainer/Training/TensorMemory.cs</c>).
/// Measured through the CLI: the setting holds for the thread the trainer runs its steps on (the process's main thread,
/// glibc's main arena), not for a test runner's worker thread.
/// </summary>
public sealed class TensorMemoryTests
{
    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "A JsonElement array enumerator holds nothing to release; ToDictionary runs it to the end.")]
    public void Training_steps_reuse_freed_activations_instead_of_faulting_fresh_pages_in()
    {
        // ResNet-18 at 224 px, batch 16: its stem activations (51 MB) are above glibc's largest mmap threshold (32 MB),
        // so with glibc's default each step maps them afresh and faults on every page.
        var (code, stdout, stderr) = TrainerProcess.Run("bench", "--arch", "resnet18", "--sizes", "224", "--batch", "16", "--steps", "2", "--warm-up", "2", "--malloc", "both", "--json");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        using var rows = JsonDocument.Parse(stdout);
        var byMode = rows.RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("malloc").GetString()!, r => r.GetProperty("minor_faults_per_step").GetDouble());
        Assert.Equal(["glibc", "keep"], byMode.Keys);
        // Kept, the first steps still grow the heap to its peak (one measured step after one warm-up step once kept 28 000
        // against 141 000), so two of each, and a third of the default's faults at most.
        Assert.True(byMode["keep"] < byMode["glibc"] / 3, $"page faults per step: glibc {byMode["glibc"]:N0}, keep {byMode["keep"]:N0}");
    }

    [Fact]
    public void Bench_refuses_an_unknown_malloc_mode_naming_it()
    {
        var (code, _, stderr) = TrainerProcess.Run("bench", "--malloc", "jemalloc");
        Assert.Equal(2, code);
        Assert.Contains("--malloc must be glibc, keep or both (got 'jemalloc')", stderr, StringComparison.Ordinal);
    }
}
