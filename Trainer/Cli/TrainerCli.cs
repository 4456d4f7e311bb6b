using System.CommandLine;
using Inspection.Config.Loading;

namespace Inspection.Trainer.Cli;

/// <summary>The <c>trainer</c> command line.</summary>
internal static class TrainerCli
{
    /// <summary>Parses and runs; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        // Every command that trains or evaluates reuses freed tensor memory; bench chooses for itself (--malloc).
        if (args.FirstOrDefault() != "bench")
        {
            Training.TensorMemory.KeepFreedForReuse();
        }

        var root = new RootCommand("trainer: retrain the defect classifier and segmenter (TorchSharp), pick recall-weighted thresholds, export ONNX packages.\n" +
            "With only --recall-target (and --config), retrains every model the config names data for.");
        var config = new Option<string>("--config", "-c") { Description = "JSON config file (Trainer:*, Models:Directory)", DefaultValueFactory = _ => ConfigLoader.DefaultPath };
        var models = new Option<string?>("--out") { Description = "Models folder (default: the config's Models:Directory)" };
        var force = new Option<bool>("--force") { Description = "Make new packages current even if the quality gate rejects them" };
        // No built-in defaults here: what is not given on the command line comes from the config (then its defaults).
        var recallTarget = new Option<double?>("--recall-target") { Description = "Recall target, in (0, 1) (default: the config's Trainer:RecallTarget, else 0.99)" };
        foreach (var option in new Option[] { config, models, force, recallTarget, CommonOptions.Threads, CommonOptions.Json })
        {
            root.Options.Add(option);
        }

        root.SetAction(parse => CommonOptions.Guarded(parse, progress => RetrainAll.Run(parse.GetValue(config)!, new RetrainArguments(
            parse.GetValue(recallTarget),
            parse.GetResult(CommonOptions.Threads) is { Implicit: false } ? parse.GetValue(CommonOptions.Threads) : null,
            parse.GetValue(force),
            parse.GetValue(models)), progress)));
        root.Subcommands.Add(DeviceCommand());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ClassifyCommand.Create());
        root.Subcommands.Add(SegmentCommand.Create());
        root.Subcommands.Add(QuickstartCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.Subcommands.Add(LrFindCommand.Create());
        root.Subcommands.Add(AugmentPreviewCommand.Create());
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
