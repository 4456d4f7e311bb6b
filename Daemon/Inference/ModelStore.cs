using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Inference;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Inference;

/// <summary>Owns the live <see cref="ModelSet"/> and the run-time threshold overrides. A reload loads and warms the new
/// pair beside the old one and swaps the reference; frames in flight finish on the set they started with.</summary>
internal sealed partial class ModelStore : IDisposable, IStatsSource
{
    private readonly ModelsOptions _options;
    private readonly ProviderChoice _providers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    private readonly ConcurrentDictionary<string, double> _thresholds = new(StringComparer.Ordinal);
    private ModelSet? _current;
    private JsonObject? _lastRefusal;
    private JsonArray? _fallbacks;
    private JsonObject? _droppedOverrides;

    public ModelStore(ModelsOptions options, TimeProvider time, ILogger<ModelStore> logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _providers = new ProviderChoice(options.Provider, message => LogProvider(logger, message));
    }

    /// <summary>Raised after a swap, a refusal or a threshold change: the retained <c>models</c> message is due.</summary>
    public event Action? Changed;

    public bool IsLoaded => Volatile.Read(ref _current) is not null;

    public string Provider => Volatile.Read(ref _current)?.Provider ?? "none";

    /// <summary><c>provider</c>: where the models run.</summary>
    public void AddStats(JsonObject stats) => stats["provider"] = Provider;

    /// <summary>Loads the <c>current</c> packages at start, falling back per task to the newest usable package when
    /// <c>current</c> is broken (reported in the log and on the <c>models</c> topic); throws
    /// <see cref="ModelPackageException"/> when a task has no usable package at all.</summary>
    public void LoadInitial()
    {
        var fallbacks = new List<string>();
        var set = ModelSet.LoadCurrentOrFallback(_options, _providers, fallbacks);
        Volatile.Write(ref _current, set);
        foreach (var fallback in fallbacks)
        {
            LogFallback(_logger, fallback);
        }

        Volatile.Write(ref _fallbacks, fallbacks.Count == 0 ? null : new JsonArray([.. fallbacks.Select(f => (JsonNode?)f)]));
        LogLoaded(_logger, set.Classifier.Manifest.Version, set.Segmenter.Manifest.Version, set.Provider);
    }

    /// <summary>The live set with a reference taken; the caller must <see cref="ModelSet.Release"/> it.</summary>
    public ModelSet Acquire()
    {
        while (true)
        {
            var set = Volatile.Read(ref _current) ?? throw new InvalidOperationException("models are not loaded");
            if (set.TryAcquire())
            {
                return set;
            }
        }
    }

    /// <summary>Re-reads both <c>current</c> links. Returns what happened; on failure the old set keeps serving.</summary>
    public async Task<ReloadOutcome> ReloadAsync(string trigger, CancellationToken ct)
    {
        await _reloadGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var old = Volatile.Read(ref _current);
            var classifierDir = ModelPackage.ResolveCurrent(_options.Directory, ModelTasks.Classifier);
            var segmenterDir = ModelPackage.ResolveCurrent(_options.Directory, ModelTasks.Segmenter);
            if (old is not null && classifierDir == old.Classifier.Package.Directory && segmenterDir == old.Segmenter.Package.Directory
                && trigger == "watch")
            {
                return new ReloadOutcome(true, false, Describe(old), null);
            }

            ModelSet fresh;
            try
            {
                fresh = await Task.Run(() => ModelSet.LoadCurrent(_options, _providers), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ModelSet.IsPackageFailure(ex))
            {
                LogRefused(_logger, trigger, ex.Message);
                Volatile.Write(ref _lastRefusal, new JsonObject
                {
                    ["at"] = _time.GetUtcNow().ToString("O"),
                    ["trigger"] = trigger,
                    ["error"] = ex.Message,
                });
                Changed?.Invoke();
                return new ReloadOutcome(false, false, old is null ? "" : Describe(old), ex.Message);
            }

            Volatile.Write(ref _current, fresh);
            Volatile.Write(ref _lastRefusal, null);
            Volatile.Write(ref _fallbacks, null);
            DropOverridesIfNewClassifier(old, fresh);
            old?.Release();
            LogSwapped(_logger, trigger, fresh.Classifier.Manifest.Version, fresh.Segmenter.Manifest.Version);
            Changed?.Invoke();
            return new ReloadOutcome(true, true, Describe(fresh), null);
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    // Per-camera overrides were calibrated against the old classifier's scores: a new version starts from its own threshold.
    private void DropOverridesIfNewClassifier(ModelSet? old, ModelSet fresh)
    {
        if (old is null || old.Classifier.Manifest.Version == fresh.Classifier.Manifest.Version || _thresholds.IsEmpty)
        {
            return;
        }

        var dropped = new JsonObject();
        foreach (var camera in _thresholds.Keys.Order(StringComparer.Ordinal))
        {
            if (_thresholds.TryRemove(camera, out var value))
            {
                dropped[camera] = value;
            }
        }

        LogOverridesDropped(_logger, string.Join(", ", dropped.Select(kv => $"{kv.Key}={kv.Value}")), old.Classifier.Manifest.Version, fresh.Classifier.Manifest.Version);
        Volatile.Write(ref _droppedOverrides, new JsonObject
        {
            ["at"] = _time.GetUtcNow().ToString("O"),
            ["from_version"] = old.Classifier.Manifest.Version,
            ["to_version"] = fresh.Classifier.Manifest.Version,
            ["thresholds"] = dropped,
        });
    }

    private static string Describe(ModelSet set) => $"classifier {set.Classifier.Manifest.Version}, segmenter {set.Segmenter.Manifest.Version}";

    /// <summary>The classifier threshold for <paramref name="camera"/>: its run-time override, else the manifest's.</summary>
    public double ThresholdFor(string camera, ModelSet set) =>
        _thresholds.TryGetValue(camera, out var value) ? value : set.Classifier.Manifest.Threshold.Value;

    public void SetThreshold(string camera, double value)
    {
        _thresholds[camera] = value;
        LogThreshold(_logger, camera, value);
        Changed?.Invoke();
    }

    /// <summary>The retained <c>models</c> payload: versions, thresholds (manifest and per-camera overrides), metrics.</summary>
    public JsonObject Describe(IEnumerable<string> cameras)
    {
        var set = Acquire();
        try
        {
            var thresholds = new JsonObject();
            foreach (var camera in cameras)
            {
                thresholds[camera] = ThresholdFor(camera, set);
            }

            return new JsonObject
            {
                ["classifier"] = DescribeModel(set.Classifier),
                ["segmenter"] = DescribeModel(set.Segmenter),
                ["thresholds"] = thresholds,
                ["threshold_overrides"] = new JsonObject(_thresholds.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["provider"] = set.Provider,
                ["refused"] = Volatile.Read(ref _lastRefusal)?.DeepClone(),
                ["fallback"] = Volatile.Read(ref _fallbacks)?.DeepClone(),
                ["threshold_overrides_dropped"] = Volatile.Read(ref _droppedOverrides)?.DeepClone(),
            };
        }
        finally
        {
            set.Release();
        }
    }

    private static JsonObject DescribeModel(OnnxModel model)
    {
        var m = model.Manifest;
        return new JsonObject
        {
            ["version"] = m.Version,
            ["path"] = model.Package.Directory,
            ["created_at"] = m.CreatedAt.ToString("O"),
            ["arch"] = m.Arch,
            ["onnx_sha256"] = m.OnnxSha256,
            ["input"] = new JsonObject { ["width"] = m.Input.Width, ["height"] = m.Input.Height, ["channels"] = m.Input.Channels },
            ["threshold"] = System.Text.Json.JsonSerializer.SerializeToNode(m.Threshold, ModelManifest.JsonOptions),
            ["metrics"] = System.Text.Json.JsonSerializer.SerializeToNode(m.Metrics, ModelManifest.JsonOptions),
        };
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _current, null)?.Release();
        _reloadGate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Message}")]
    private static partial void LogProvider(ILogger logger, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "models loaded: classifier {Classifier}, segmenter {Segmenter} on {Provider}")]
    private static partial void LogLoaded(ILogger logger, string classifier, string segmenter, string provider);

    [LoggerMessage(Level = LogLevel.Information, Message = "models swapped ({Trigger}): classifier {Classifier}, segmenter {Segmenter}")]
    private static partial void LogSwapped(ILogger logger, string trigger, string classifier, string segmenter);

    [LoggerMessage(Level = LogLevel.Error, Message = "model reload ({Trigger}) refused, the previous models keep serving: {Error}")]
    private static partial void LogRefused(ILogger logger, string trigger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "model fallback at start: {Fallback}")]
    private static partial void LogFallback(ILogger logger, string fallback);

    [LoggerMessage(Level = LogLevel.Warning, Message = "threshold overrides {Overrides} dropped: they were set for classifier {Old}, now serving {New}")]
    private static partial void LogOverridesDropped(ILogger logger, string overrides, string old, string @new);

    [LoggerMessage(Level = LogLevel.Information, Message = "threshold for camera {Camera} set to {Value}")]
    private static partial void LogThreshold(ILogger logger, string camera, double value);
}

/// <summary>Result of a reload: <paramref name="Ok"/> false means refused (the old models serve on).</summary>
internal sealed record ReloadOutcome(bool Ok, bool Swapped, string Models, string? Error);
