using System.Text.Json;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Commands;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Publishing;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Inference;

/// <summary>Loads the models at start (the daemon does not start without usable ones) and, with Models:Watch, reloads
/// when a task's <c>current</c> link changes. The outcome of a watched reload is announced on <c>cmd/reply</c>.</summary>
public sealed partial class ModelWatcher(ModelsOptions options, ModelStore store, MqttConnection mqtt, Topics topics, ILogger<ModelWatcher> logger)
    : DaemonWorker(logger)
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        store.LoadInitial();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        if (!options.Watch)
        {
            return;
        }

        var changed = new SemaphoreSlim(0);
        var watchers = new List<FileSystemWatcher>();
        try
        {
            foreach (var task in new[] { ModelTasks.Classifier, ModelTasks.Segmenter })
            {
                var watcher = new FileSystemWatcher(Path.Combine(options.Directory, task)) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite };
                watcher.Renamed += (_, e) => Signal(e.Name);
                watcher.Created += (_, e) => Signal(e.Name);
                watcher.Changed += (_, e) => Signal(e.Name);
                watcher.EnableRaisingEvents = true;
                watchers.Add(watcher);
            }

            LogWatching(Logger, options.Directory);
            while (true)
            {
                await changed.WaitAsync(stoppingToken).ConfigureAwait(false);

                // The trainer switches both links one after the other; let both land, then reload once.
                await Task.Delay(Settle, stoppingToken).ConfigureAwait(false);
                while (changed.CurrentCount > 0)
                {
                    await changed.WaitAsync(stoppingToken).ConfigureAwait(false);
                }

                var outcome = await store.ReloadAsync("watch", stoppingToken).ConfigureAwait(false);
                if (outcome.Swapped || !outcome.Ok)
                {
                    var reply = CommandService.Reply("reload", outcome.Ok, outcome.Ok ? $"loaded {outcome.Models}" : $"new models refused, still serving {outcome.Models}: {outcome.Error}");
                    reply["trigger"] = "watch";
                    await mqtt.PublishAsync(MqttConnection.Message(topics.CommandReply, JsonSerializer.SerializeToUtf8Bytes(reply)), stoppingToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var watcher in watchers)
            {
                watcher.Dispose();
            }
        }

        void Signal(string? name)
        {
            if (name == ModelPackage.CurrentLink)
            {
                changed.Release();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "watching {Directory} for new current model packages")]
    private static partial void LogWatching(ILogger logger, string directory);
}
