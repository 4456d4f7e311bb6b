using System.Text.Json;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Publishing;

/// <summary>Publishes the retained <c>models</c> message on every (re)connect (the broker may have lost retained
/// messages) and whenever <see cref="ModelStore.Changed"/> says the models or thresholds changed.</summary>
internal sealed class ModelsPublisher : DaemonWorker
{
    private readonly MqttConnection _mqtt;
    private readonly Topics _topics;
    private readonly ModelStore _models;
    private readonly CameraPipelines _cameras;
    private readonly SemaphoreSlim _modelsChanged = new(0);

    public ModelsPublisher(MqttConnection mqtt, Topics topics, ModelStore models, CameraPipelines cameras, ILogger<ModelsPublisher> logger)
        : base(logger)
    {
        _mqtt = mqtt;
        _topics = topics;
        _models = models;
        _cameras = cameras;
        models.Changed += OnModelsChanged;
    }

    private void OnModelsChanged() => _modelsChanged.Release();

    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await _mqtt.WhenConnected.WaitAsync(stoppingToken).ConfigureAwait(false);
            var connection = _mqtt.Connections;
            var payload = JsonSerializer.SerializeToUtf8Bytes(_models.Describe(_cameras.Ids));
            await _mqtt.PublishAsync(MqttConnection.Message(_topics.Models, payload, retain: true), stoppingToken).ConfigureAwait(false);

            // Next: a model or threshold change, or a new connection.
            while (!stoppingToken.IsCancellationRequested && _mqtt.Connections == connection)
            {
                if (await _modelsChanged.WaitAsync(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
    }

    public override void Dispose()
    {
        _models.Changed -= OnModelsChanged;
        _modelsChanged.Dispose();
        base.Dispose();
    }
}
