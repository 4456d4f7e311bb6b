using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Snapshots;
using Microsoft.Extensions.Logging;
using MQTTnet;

namespace Inspection.Daemon.Commands;

/// <summary>Handles <c>{root}/inspect</c> (and the shared request topic, if configured) and
/// <c>{root}/cmd/{reload,threshold,pause,resume}</c>. Messages are queued by the MQTT receive handler and worked off
/// here one at a time (publishing from inside MQTTnet's handler would stall its receive loop). Every request gets an answer: the result, <c>ok</c>, or an error that names what was wrong.
/// The outcome of a reload the <see cref="ModelWatcher"/> started is announced on <c>cmd/reply</c> too.</summary>
internal sealed partial class CommandService : DaemonWorker
{
    public const string InspectCommand = "inspect";
    /// <summary>The commands under <c>{root}/cmd/</c> (docs/mqtt.md lists them; a test holds the two together).</summary>
    public static readonly IReadOnlyList<string> Known = ["reload", "threshold", "pause", "resume"];
    private readonly Channel<CommandRequest> _queue = Channel.CreateBounded<CommandRequest>(new BoundedChannelOptions(256) { SingleReader = true });
    private readonly Channel<ReloadOutcome> _watchedReloads = Channel.CreateUnbounded<ReloadOutcome>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ModelWatcher _watcher;
    private readonly MqttConnection _mqtt;
    private readonly Topics _topics;
    private readonly InspectionOptions _options;
    private readonly ModelStore _models;
    private readonly CameraPipelines _cameras;
    private readonly ResultSink _sink;
    private readonly InspectionRunner _runner;
    private readonly TimeProvider _time;
    private readonly AllowedImages _images;

    public CommandService(InspectionOptions options, MqttConnection mqtt, Topics topics, ModelStore models, ModelWatcher watcher, CameraPipelines cameras, ResultSink sink,
        SnapshotWriter snapshots, TimeProvider time, ILogger<CommandService> logger)
        : base(logger)
    {
        _watcher = watcher;
        _options = options;
        _mqtt = mqtt;
        _topics = topics;
        _models = models;
        _cameras = cameras;
        _sink = sink;
        _time = time;
        _images = new AllowedImages(options.Inspect);
        _runner = new InspectionRunner(models, options.Pipeline, snapshots, topics.Device);
        mqtt.MessageReceived += OnMessage;
        watcher.Reloaded += OnWatchedReload;
    }

    private Task OnMessage(MqttApplicationMessage message)
    {
        var name = _topics.IsInspect(message.Topic) ? InspectCommand : _topics.CommandName(message.Topic);
        if (name is null or "reply")
        {
            // Our own replies (cmd/reply) and anything outside the device's tree are not requests.
            return Task.CompletedTask;
        }

        var request = new CommandRequest(name, message.Payload.ToArray(), message.ResponseTopic, message.CorrelationData);
        if (!_queue.Writer.TryWrite(request))
        {
            LogQueueFull(Logger, name);
        }

        return Task.CompletedTask;
    }

    private void OnWatchedReload(ReloadOutcome outcome) => _watchedReloads.Writer.TryWrite(outcome);

    protected override Task RunAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(AnswerRequestsAsync(stoppingToken), AnnounceWatchedReloadsAsync(stoppingToken));

    private async Task AnnounceWatchedReloadsAsync(CancellationToken ct)
    {
        await foreach (var outcome in _watchedReloads.Reader.ReadAllAsync(ct).ConfigureAwait(false))
        {
            var reply = Reply("reload", outcome.Ok, Describe(outcome));
            reply["trigger"] = "watch";
            await PublishReplyAsync(reply, responseTopic: null, correlation: null, ct).ConfigureAwait(false);
        }
    }

    private static string Describe(ReloadOutcome outcome) =>
        outcome.Ok ? $"loaded {outcome.Models}" : $"new models refused, still serving {outcome.Models}: {outcome.Error}";

    private async Task AnswerRequestsAsync(CancellationToken stoppingToken)
    {
        await foreach (var received in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            var request = received;
            JsonObject reply;
            try
            {
                if (request.ResponseTopic is { } responseTopic && _topics.RefuseResponseTopic(responseTopic) is { } refusal)
                {
                    // Not done, and answered on cmd/reply: an answer on that topic could pause a camera, reload models or
                    // fake a result of this device.
                    request = request with { ResponseTopic = null };
                    throw new CommandException(refusal);
                }

                reply = await HandleAsync(request, stoppingToken).ConfigureAwait(false);
            }
            catch (CommandException ex)
            {
                LogRefused(Logger, request.Name, ex.Message);
                reply = Reply(request.Name, ok: false, ex.Message);
                if (request.Name == InspectCommand && TryPartId(request.Payload) is { } partId)
                {
                    reply["part_id"] = partId;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not the request's fault (a model or disk error): answer and log it in full, and keep serving.
                LogFailed(Logger, request.Name, ex);
                reply = Reply(request.Name, ok: false, $"internal error: {ex.Message}");
            }

            if (reply.Count > 0)
            {
                await PublishReplyAsync(reply, request.ResponseTopic, request.Correlation, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Publishes a reply on the request's response topic, or on <c>cmd/reply</c>.</summary>
    private Task<bool> PublishReplyAsync(JsonObject reply, string? responseTopic, byte[]? correlation, CancellationToken ct) =>
        _mqtt.PublishAsync(MqttConnection.Message(responseTopic ?? _topics.CommandReply, JsonSerializer.SerializeToUtf8Bytes(reply), correlation: correlation), ct);

    private static JsonObject Reply(string command, bool ok, string message) => ok
        ? new JsonObject { ["command"] = command, ["ok"] = true, ["message"] = message }
        : new JsonObject { ["command"] = command, ["ok"] = false, ["error"] = message };

    private async Task<JsonObject> HandleAsync(CommandRequest request, CancellationToken ct)
    {
        if (request.Payload.Length > _options.Mqtt.MaxPayloadBytes)
        {
            throw new CommandException($"payload of {request.Payload.Length} bytes exceeds Mqtt:MaxPayloadBytes ({_options.Mqtt.MaxPayloadBytes})");
        }

        switch (request.Name)
        {
            case InspectCommand:
                return await InspectAsync(request, ct).ConfigureAwait(false);
            case "reload":
                RequestJson.ParseObject(request.Payload, emptyAllowed: true);
                var outcome = await _models.ReloadAsync("command", ct).ConfigureAwait(false);
                return outcome.Ok ? Reply("reload", true, Describe(outcome)) : throw new CommandException(Describe(outcome));
            case "threshold":
                return SetThreshold(RequestJson.ParseObject(request.Payload, emptyAllowed: false));
            case "pause":
            case "resume":
                return PauseOrResume(request.Name, RequestJson.ParseObject(request.Payload, emptyAllowed: true));
            default:
                throw new CommandException($"unknown command '{request.Name}' (known: {string.Join(", ", Known)})");
        }
    }

    private JsonObject SetThreshold(JsonElement request)
    {
        if (!request.TryGetProperty("value", out var valueElement) || valueElement.ValueKind != JsonValueKind.Number)
        {
            throw new CommandException("'value' must be a number in (0, 1), e.g. {\"camera\": \"cam1\", \"value\": 0.35}");
        }

        var value = valueElement.GetDouble();
        if (!double.IsFinite(value) || value is <= 0 or >= 1)
        {
            throw new CommandException($"'value' must be strictly between 0 and 1 (got {value.ToString(CultureInfo.InvariantCulture)})");
        }

        var cameras = SelectCameras(request);
        foreach (var camera in cameras)
        {
            _models.SetThreshold(camera, value);
        }

        return Reply("threshold", true, $"threshold {value.ToString(CultureInfo.InvariantCulture)} for {string.Join(", ", cameras)}");
    }

    private JsonObject PauseOrResume(string command, JsonElement request)
    {
        var cameras = SelectCameras(request);
        foreach (var camera in cameras)
        {
            _cameras.Find(camera)!.Paused = command == "pause";
        }

        var names = string.Join(", ", cameras);
        LogPaused(Logger, command, names);
        return Reply(command, true, $"{command}d {names}");
    }

    // "camera" names one camera; without it a command applies to every camera.
    private List<string> SelectCameras(JsonElement request)
    {
        var camera = RequestJson.OptionalString(request, "camera");
        if (camera is null)
        {
            return [.. _cameras.Ids];
        }

        return _cameras.Find(camera) is null ? throw UnknownCamera(camera) : [camera];
    }

    private CommandException UnknownCamera(string camera) =>
        new($"unknown camera '{camera}' (cameras: {(_cameras.Ids.Any() ? string.Join(", ", _cameras.Ids) : "none configured")})");

    private async Task<JsonObject> InspectAsync(CommandRequest request, CancellationToken ct)
    {
        var body = RequestJson.ParseObject(request.Payload, emptyAllowed: false);
        var partId = RequestJson.OptionalString(body, "part_id") ?? throw new CommandException("'part_id' is missing; an inspect request must name the part, e.g. {\"part_id\": \"4711\"}");
        var camera = RequestJson.OptionalString(body, "camera");
        var imagePath = RequestJson.OptionalString(body, "image_path");
        if (camera is not null && _cameras.Find(camera) is null)
        {
            throw UnknownCamera(camera);
        }

        Results.InspectionResult result;
        if (imagePath is not null)
        {
            var (image, path) = _images.Read(imagePath);
            using (image)
            {
                result = _runner.Inspect(image, camera ?? _cameras.Ids.FirstOrDefault() ?? "file", 0, _time.GetUtcNow(), partId, path, forceSegmentation: true);
            }
        }
        else
        {
            camera ??= _cameras.Ids.Count() == 1 ? _cameras.Ids.First() : throw new CommandException(
                $"'camera' is missing and there are {_cameras.Ids.Count()} cameras ({string.Join(", ", _cameras.Ids)}); name one, or give an image_path");
            var pipeline = _cameras.Find(camera)!;
            using var frame = pipeline.TryGetLatest() ?? throw new CommandException(
                $"camera '{camera}' has no frame yet ({pipeline.Failure ?? pipeline.CaptureStats.State.ToString()}); try again shortly");
            result = _runner.Inspect(frame.Image, camera, frame.Sequence, frame.CapturedAt, partId, null, forceSegmentation: true);
        }

        var (numbered, json, _) = await _sink.SubmitAsync(result, ct).ConfigureAwait(false);
        LogInspected(Logger, partId, numbered.Camera, numbered.Defect, numbered.Score);
        if (request.ResponseTopic is not null)
        {
            await _mqtt.PublishAsync(MqttConnection.Message(request.ResponseTopic, json, correlation: request.Correlation), ct).ConfigureAwait(false);
        }

        return [];
    }

    private static string? TryPartId(byte[] payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("part_id", out var p) && p.ValueKind == JsonValueKind.String
                ? p.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public override void Dispose()
    {
        _mqtt.MessageReceived -= OnMessage;
        _watcher.Reloaded -= OnWatchedReload;
        _runner.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "request on '{Command}' refused: {Error}")]
    private static partial void LogRefused(ILogger logger, string command, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "request on '{Command}' failed")]
    private static partial void LogFailed(ILogger logger, string command, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "command queue full; '{Command}' dropped unanswered")]
    private static partial void LogQueueFull(ILogger logger, string command);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Command}: {Cameras}")]
    private static partial void LogPaused(ILogger logger, string command, string cameras);

    [LoggerMessage(Level = LogLevel.Information, Message = "inspected part {PartId} on {Camera}: defect {Defect}, score {Score}")]
    private static partial void LogInspected(ILogger logger, string partId, string camera, bool defect, double score);
}
