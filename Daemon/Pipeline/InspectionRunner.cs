using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using OpenCvSharp;

namespace Inspection.Daemon.Pipeline;

/// <summary>Turns one image into an (unnumbered) <see cref="InspectionResult"/>: runs the models, and queues the
/// snapshot when the frame is a defect or drawn as a good sample. One per thread of work (it owns an <see cref="Inspector"/>).</summary>
internal sealed class InspectionRunner(ModelStore models, PipelineOptions pipeline, SnapshotWriter? snapshots, string device) : IDisposable
{
    private readonly Inspector _inspector = new(models, pipeline);

    /// <summary>The CPU the last <see cref="Inspect"/> spent outside the models (building the result counts as
    /// postprocessing).</summary>
    public StageCpu LastCpu { get; private set; }

    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "SnapshotWriter.TryEnqueue takes the snapshot: the writer disposes it once written, or at once when it refuses it.")]
    public InspectionResult Inspect(Mat image, string camera, long frameSeq, DateTimeOffset capturedAt, string? partId, string? imagePath, bool forceSegmentation)
    {
        var outcome = _inspector.Inspect(image, camera, forceSegmentation);
        var cpuStart = ThreadCpu.NowMs();
        var id = Guid.CreateVersion7().ToString("N");
        string? maskFile = null;
        string? explainFile = null;
        var review = snapshots?.ReviewReason(outcome.Score, outcome.Threshold);
        if (snapshots is { Enabled: true } && (outcome.Defect || review is not null || snapshots.SampleGood()))
        {
            var snapshot = new Snapshot(id, image.Clone(), outcome.Mask?.Clone())
            {
                Review = review is null ? null : new ReviewNote(camera, outcome.Score, outcome.Threshold, capturedAt, review),
                Explain = outcome.Cam is { } cam ? cam with { Values = cam.Values.ToArray() } : null,
            };
            if (snapshots.TryEnqueue(snapshot))
            {
                maskFile = outcome.Mask is null ? null : id + SnapshotWriter.MaskSuffix;
                explainFile = outcome.Cam is null ? null : id + SnapshotWriter.ExplainSuffix;
            }
        }

        var result = new InspectionResult
        {
            Id = id,
            Device = device,
            Camera = camera,
            FrameSeq = frameSeq,
            PartId = partId,
            ImagePath = imagePath,
            CapturedAt = capturedAt.UtcDateTime,
            Defect = outcome.Defect,
            Score = Math.Round(outcome.Score, 6),
            Threshold = outcome.Threshold,
            Models = outcome.Models,
            Segmentation = outcome.Segmentation is null ? null : outcome.Segmentation with { Mask = maskFile },
            LatencyMs = outcome.Latency,
            Explain = explainFile,
        };
        LastCpu = outcome.Cpu with { PostprocessMs = outcome.Cpu.PostprocessMs + (ThreadCpu.NowMs() - cpuStart) };
        return result;
    }

    public void Dispose() => _inspector.Dispose();
}
