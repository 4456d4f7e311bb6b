using Inspection.Camera.Capture;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Prometheus;

namespace Inspection.Daemon.Http;

/// <summary>The daemon's Prometheus metrics, in a registry of its own (several daemons can share a test process).
/// Results feed counters and latency histograms as they are numbered; everything the pipeline already counts is
/// copied in just before each scrape.</summary>
internal sealed class DaemonMetrics
{
    private static readonly string[] Stages = ["preprocess", "classify", "segment", "postprocess", "total"];
    private static readonly string[] CameraStates = [.. Enum.GetNames<SourceState>().Select(s => s.ToLowerInvariant()), "failed"];
    private readonly Counter _results;
    private readonly Counter _defects;
    private readonly Histogram _latency;

    public DaemonMetrics(CameraPipelines cameras, ResultSink sink, DiskOutbox outbox, MqttConnection mqtt, ModelStore models, ResultPublisher publisher, SnapshotWriter snapshots,
        History.ResultHistory history, Review.ReviewQueue review, Tampering.TamperWatch tampering)
    {
        var f = Metrics.WithCustomRegistry(Registry);
        _results = f.CreateCounter("inspection_results_total", "Results produced, per camera.", "camera");
        _defects = f.CreateCounter("inspection_defects_total", "Results that were defects, per camera.", "camera");
        _latency = f.CreateHistogram("inspection_stage_latency_seconds", "Time per inspection stage.", new HistogramConfiguration
        {
            LabelNames = ["camera", "stage"],
            Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
        });
        var alarms = f.CreateCounter("inspection_tamper_alarms_total", "Tampering alarms raised, per camera and kind.", "camera", "kind");
        var captured = f.CreateCounter("inspection_frames_captured_total", "Frames read from the camera.", "camera");
        var dropped = f.CreateCounter("inspection_frames_dropped_total", "Frames dropped because inspection fell behind.", "camera");
        var errors = f.CreateCounter("inspection_frame_errors_total", "Frames the models could not inspect.", "camera");
        var state = f.CreateGauge("inspection_camera_state", "1 for the camera's current state.", "camera", "state");
        var fps = f.CreateGauge("inspection_camera_fps", "Frames per second read from the camera.", "camera");
        var queue = f.CreateGauge("inspection_result_queue_depth", "Results waiting for the publisher.");
        var outboxDepth = f.CreateGauge("inspection_outbox_depth", "Results waiting in the disk outbox.");
        var outboxBytes = f.CreateGauge("inspection_outbox_bytes", "Bytes waiting in the disk outbox.");
        var outboxDropped = f.CreateCounter("inspection_outbox_dropped_total", "Results dropped from a full outbox.");
        var published = f.CreateCounter("inspection_published_total", "Results the broker acknowledged.");
        var connected = f.CreateGauge("inspection_mqtt_connected", "1 while connected to the broker.");
        var reconnects = f.CreateCounter("inspection_mqtt_reconnects_total", "Broker reconnections.");
        var modelInfo = f.CreateGauge("inspection_model_info", "1 for each loaded model version.", "model", "version", "provider");
        var snapshotErrors = f.CreateCounter("inspection_snapshot_errors_total", "Snapshot write or delete errors.");
        var snapshotsWritten = f.CreateCounter("inspection_snapshots_written_total", "Snapshots written.");
        var historyErrors = f.CreateCounter("inspection_history_write_errors_total", "Result index writes that failed (full or failing disk).");
        var historyDropped = f.CreateCounter("inspection_history_dropped_total", "Result index writes dropped because the index fell behind.");
        var reviewWaiting = f.CreateGauge("inspection_review_waiting", "Frames waiting for an operator's label.");

        sink.Numbered += Observe;
        tampering.AlarmRaised += (camera, kind) => alarms.WithLabels(camera, kind).Inc();
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var p in cameras.All)
            {
                var stats = p.CaptureStats;
                captured.WithLabels(p.Id).IncTo(stats.FramesRead);
                dropped.WithLabels(p.Id).IncTo(stats.FramesDropped);
                errors.WithLabels(p.Id).IncTo(p.Errors);
                fps.WithLabels(p.Id).Set(stats.Fps);
                var current = p.StateName(stats);
                foreach (var s in CameraStates)
                {
                    state.WithLabels(p.Id, s).Set(s == current ? 1 : 0);
                }
            }

            queue.Set(sink.Depth);
            outboxDepth.Set(outbox.Count);
            outboxBytes.Set(outbox.PendingBytes);
            outboxDropped.IncTo(outbox.Dropped);
            published.IncTo(publisher.Published);
            connected.Set(mqtt.IsConnected ? 1 : 0);
            reconnects.IncTo(mqtt.Reconnects);
            snapshotErrors.IncTo(snapshots.Errors);
            snapshotsWritten.IncTo(snapshots.Written);
            historyErrors.IncTo(history.Errors);
            historyDropped.IncTo(history.Dropped);
            reviewWaiting.Set(review.Count);
            foreach (var old in modelInfo.GetAllLabelValues().ToList())
            {
                modelInfo.RemoveLabelled(old);
            }

            if (models.IsLoaded)
            {
                var described = models.Describe([]);
                foreach (var model in (string[])["classifier", "segmenter"])
                {
                    modelInfo.WithLabels(model, (string?)described[model]?["version"] ?? "", models.Provider).Set(1);
                }
            }
        });
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    private void Observe(InspectionResult r)
    {
        _results.WithLabels(r.Camera).Inc();
        if (r.Defect)
        {
            _defects.WithLabels(r.Camera).Inc();
        }

        var l = r.LatencyMs;
        double[] ms = [l.Preprocess, l.Classify, l.Segment, l.Postprocess, l.Total];
        for (var i = 0; i < Stages.Length; i++)
        {
            _latency.WithLabels(r.Camera, Stages[i]).Observe(ms[i] / 1000);
        }
    }
}
