using System.CommandLine;
using Inspection.Config.Loading;
using Inspection.Config.Options;

namespace Inspection.Daemon.Cli;

/// <summary>The <c>inspectiond</c> command line: one subcommand per job.</summary>
internal static class DaemonCli
{
    /// <summary>The <c>--config</c> option shared by every subcommand that reads a config file.</summary>
    public static Option<string> ConfigOption() => new("--config", "-c")
    {
        Description = "JSON config file (INSPECTION__Section__Key environment variables override it)",
        DefaultValueFactory = _ => ConfigLoader.DefaultPath,
    };

    /// <summary>Loads the config at <paramref name="path"/> and runs <paramref name="body"/> with it. A config that cannot
    /// be used is reported (one line per problem, each naming its key) and gives exit code 78, which the systemd unit
    /// does not restart on.</summary>
    public static int WithConfig(string path, Func<InspectionOptions, int> body)
    {
        InspectionOptions options;
        try
        {
            options = ConfigLoader.Load(path);
        }
        catch (ConfigException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return ConfigException.ExitCode;
        }

        return body(options);
    }

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
        command.SetAction(parse => WithConfig(parse.GetValue(config)!, options =>
        {
            Console.Out.WriteLine(EffectiveSettings.ToJson(options));
            Console.Error.WriteLine("config ok");
            return 0;
        }));
        return command;
    }
}
