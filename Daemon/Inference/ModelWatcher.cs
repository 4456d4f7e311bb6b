using System.Threading.Channels;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Inference;

/// <summary>Loads the models at start (the daemon does not start without usable ones) and, with Models:Watch, reloads
/// when a task's <c>current</c> link changes. A reload that swapped the models or was refused raises
/// <see cref="Reloaded"/> (the command side announces it on <c>cmd/reply</c>).</summary>
internal sealed partial class ModelWatcher(ModelsOptions options, ModelStore store, ILogger<ModelWatcher> logger)
    : DaemonWorker(logger)
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    /// <summary>A watched reload swapped the models or was refused (not raised when <c>current</c> still names the
    /// serving packages). Handlers run on the watcher's loop and must only hand the outcome on.</summary>
    public event Action<ReloadOutcome>? Reloaded;

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

        // Not a semaphore: the watchers' callbacks may still signal after the watchers are disposed, and a channel needs no disposing.
        var changed = Channel.CreateUnbounded<bool>();
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
                await changed.Reader.ReadAsync(stoppingToken).ConfigureAwait(false);

                // The trainer switches both links one after the other; let both land, then reload once.
                await Task.Delay(Settle, stoppingToken).ConfigureAwait(false);
                while (changed.Reader.TryRead(out _))
                {
                }

                var outcome = await store.ReloadAsync("watch", stoppingToken).ConfigureAwait(false);
                if (outcome.Swapped || !outcome.Ok)
                {
                    Reloaded?.Invoke(outcome);
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
                changed.Writer.TryWrite(true);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "watching {Directory} for new current model packages")]
    private static partial void LogWatching(ILogger logger, string directory);
}
