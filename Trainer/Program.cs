using Inspection.Trainer.Cli;

return TrainerCli.Run(args);
