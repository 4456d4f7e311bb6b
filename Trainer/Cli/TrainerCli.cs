using System.CommandLine;

namespace Inspection.Trainer.Cli;

/// <summary>The <c>trainer</c> command line.</summary>
public static class TrainerCli
{
    /// <summary>Parses and runs; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        var root = new RootCommand("trainer: retrain the defect classifier and segmenter (TorchSharp), pick recall-weighted thresholds, export ONNX packages");
        root.Subcommands.Add(DeviceCommand());
        root.Subcommands.Add(BenchCommand.Create());
        return root.Parse(args).Invoke();
    }

    private static Command DeviceCommand()
    {
        var command = new Command("device", "Print the torch device training would use and check that libtorch loads");
        command.SetAction(_ =>
        {
            var cuda = TorchSharp.torch.cuda.is_available();
            Console.WriteLine(cuda ? "cuda" : "cpu");
            return 0;
        });
        return command;
    }
}
