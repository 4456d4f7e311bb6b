using System.CommandLine;
using Inspection.Config.Loading;

namespace Inspection.Daemon.Cli;

/// <summary>The <c>inspectiond</c> command line: one subcommand per job.</summary>
public static class DaemonCli
{
    /// <summary>The <c>--config</c> option shared by every subcommand that reads a config file.</summary>
    public static Option<string> ConfigOption() => new("--config", "-c")
    {
        Description = "JSON config file (INSPECTION__Section__Key environment variables override it)",
        DefaultValueFactory = _ => ConfigLoader.DefaultPath,
    };

    /// <summary>Parses and runs; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        var root = new RootCommand("inspectiond: camera frames → defect classifier and segmenter (ONNX Runtime) → MQTT");
        root.Subcommands.Add(CheckConfigCommand());
        ServiceCommands.Register(root);
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ProbeCommand.Create());
        return root.Parse(args).Invoke();
    }

    private static Command CheckConfigCommand()
    {
        var config = ConfigOption();
        var command = new Command("check-config", "Validate a config file and print the effective settings (secrets masked); exit 78 when invalid");
        command.Options.Add(config);
        command.SetAction(parse =>
        {
            try
            {
                var options = ConfigLoader.Load(parse.GetValue(config)!);
                Console.Out.WriteLine(EffectiveSettings.ToJson(options));
                Console.Error.WriteLine("config ok");
                return 0;
            }
            catch (ConfigException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return ConfigException.ExitCode;
            }
        });
        return command;
    }
}
