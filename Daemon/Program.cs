using Inspection.Daemon.Cli;

return DaemonCli.Run(args);
