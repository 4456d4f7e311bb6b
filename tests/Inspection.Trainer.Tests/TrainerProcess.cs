using Inspection.TestSupport;

namespace Inspection.Trainer.Tests;

/// <summary>Runs the built <c>trainer</c> CLI as its own process (its own torch state, the real command line).</summary>
internal static class TrainerProcess
{
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var process = Tools.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "trainer.dll"), .. args]);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
