using System.Diagnostics;
using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Inspection.Inference;
using Inspection.Inference.Postprocessing;
using Inspection.Inference.Preprocessing;
using OpenCvSharp;

namespace Inspection.Daemon.Inference;

/// <summary>What the models said about one image, before it becomes a numbered <see cref="InspectionResult"/>.</summary>
internal sealed class InspectionOutcome
{
    public required double Score { get; init; }

    public required double Threshold { get; init; }

    public bool Defect => Score >= Threshold;

    public required ResultModels Models { get; init; }

    /// <summary>Null when the segmenter was skipped.</summary>
    public SegmentationResult? Segmentation { get; set; }

    /// <summary>Binary mask (0/255) at the segmenter's output size, owned by the <see cref="Inspector"/> and valid until
    /// its next call; null when the segmenter was skipped.</summary>
    public Mat? Mask { get; init; }

    public required StageLatency Latency { get; init; }

    /// <summary>This thread's CPU time for preprocessing and postprocessing (the models' time is not in it).</summary>
    public required StageCpu Cpu { get; init; }

    /// <summary>The classifier's class activation map for a defect, when its package has one (values owned by the
    /// <see cref="Inspector"/>, valid until its next call); else null.</summary>
    public ClassActivationMap? Cam { get; init; }
}

/// <summary>Runs the classifier and, unless the frame is confidently good, the segmenter on one image. One instance per
/// thread of work (a camera pipeline, the request handler): it owns reused preprocessing and tensor buffers and
/// follows the <see cref="ModelStore"/> across hot swaps.</summary>
internal sealed class Inspector(ModelStore store, PipelineOptions pipeline) : IDisposable
{
    private readonly MaskAnalyzer _masks = new();
    private readonly Mat _mask = new();
    private float[] _probabilities = [];
    private ModelBuffers? _buffers;
    private Preprocessor? _classifierPre;
    private Preprocessor? _segmenterPre;

    public InspectionOutcome Inspect(Mat image, string camera, bool forceSegmentation)
    {
        var set = store.Acquire();
        try
        {
            if (!ReferenceEquals(_buffers?.Models, set))
            {
                Rebuild(set);
            }

            var buffers = _buffers!;
            var start = Stopwatch.GetTimestamp();
            var cpuStart = ThreadCpu.NowMs();
            _classifierPre!.Run(image, buffers.ClassifierInput);
            var preprocessCpu = ThreadCpu.NowMs() - cpuStart;
            var preprocessed = Stopwatch.GetTimestamp();
            buffers.RunClassifier();
            var classified = Stopwatch.GetTimestamp();
            var score = ModelOutputs.Probability(buffers.ClassifierOutput, set.Classifier.Manifest.Output.Kind);
            var threshold = store.ThresholdFor(camera, set);
            var cam = score >= threshold && buffers.ClassifierCam is { } values
                ? new ClassActivationMap(values, (int)set.Classifier.CamShape![3], (int)set.Classifier.CamShape[2], set.Classifier.Manifest.Input)
                : null;
            var models = new ResultModels(set.Classifier.Manifest.Version, set.Segmenter.Manifest.Version);

            var skip = !forceSegmentation && pipeline.SkipSegmentationWhenGood && score < pipeline.SkipSegmentationBelow * threshold;
            if (skip)
            {
                return new InspectionOutcome
                {
                    Score = score,
                    Threshold = threshold,
                    Models = models,
                    Cam = cam,
                    Latency = new StageLatency(Ms(start, preprocessed), Ms(preprocessed, classified), 0, 0, Ms(start, classified)),
                    Cpu = new StageCpu(preprocessCpu, 0),
                };
            }

            // Preprocess once: when both models take the same input they share the classifier's tensor.
            cpuStart = ThreadCpu.NowMs();
            if (!buffers.SharedInput)
            {
                _segmenterPre!.Run(image, buffers.SegmenterInput);
            }

            preprocessCpu += ThreadCpu.NowMs() - cpuStart;
            var segPreprocessed = Stopwatch.GetTimestamp();
            buffers.RunSegmenter();
            var segmented = Stopwatch.GetTimestamp();
            cpuStart = ThreadCpu.NowMs();
            var shape = set.Segmenter.OutputShape;
            var manifest = set.Segmenter.Manifest;
            var mask = _mask;
            var analysis = AnalyzeMask(buffers.SegmenterOutput, manifest, (int)shape[^1], (int)shape[^2], mask);
            var segmentation = ToResult(analysis.ScaledTo(image.Cols, image.Rows));
            var postprocessCpu = ThreadCpu.NowMs() - cpuStart;
            var done = Stopwatch.GetTimestamp();
            return new InspectionOutcome
            {
                Score = score,
                Threshold = threshold,
                Models = models,
                Mask = mask,
                Cam = cam,
                Segmentation = segmentation,
                Latency = new StageLatency(
                    Ms(start, preprocessed) + Ms(classified, segPreprocessed),
                    Ms(preprocessed, classified),
                    Ms(segPreprocessed, segmented),
                    Ms(segmented, done),
                    Ms(start, done)),
                Cpu = new StageCpu(preprocessCpu, postprocessCpu),
            };
        }
        finally
        {
            set.Release();
        }
    }

    private void Rebuild(ModelSet set)
    {
        _buffers?.Dispose();
        _buffers = new ModelBuffers(set);
        _classifierPre?.Dispose();
        _classifierPre = new Preprocessor(set.Classifier.Manifest.Input);
        _segmenterPre?.Dispose();
        _segmenterPre = new Preprocessor(set.Segmenter.Manifest.Input);
    }

    // A logit map is thresholded in logit space (no sigmoid per pixel); other kinds become probabilities first.
    private MaskAnalysisResult AnalyzeMask(float[] output, ModelManifest manifest, int width, int height, Mat mask)
    {
        var threshold = (float)manifest.Threshold.Value;
        if (manifest.Output.Kind == OutputKind.Logit)
        {
            return _masks.AnalyzeLogits(output, width, height, threshold, pipeline.MinRegionArea, mask);
        }

        if (manifest.Output.Kind == OutputKind.Probability)
        {
            return _masks.Analyze(output, width, height, threshold, pipeline.MinRegionArea, mask);
        }

        var map = _probabilities.Length == width * height ? _probabilities : _probabilities = new float[width * height];
        ModelOutputs.PixelProbabilities(output, manifest.Output.Kind, map);
        return _masks.Analyze(map, width, height, threshold, pipeline.MinRegionArea, mask);
    }

    private static SegmentationResult ToResult(MaskAnalysisResult analysis) => new(
        Math.Round(analysis.Coverage, 6),
        [.. analysis.Regions.Select(r => new DefectRegion(r.X, r.Y, r.Width, r.Height, r.Area))],
        null);

    private static double Ms(long from, long to) => Math.Round(Stopwatch.GetElapsedTime(from, to).TotalMilliseconds, 3);

    public void Dispose()
    {
        _buffers?.Dispose();
        _classifierPre?.Dispose();
        _segmenterPre?.Dispose();
        _masks.Dispose();
        _mask.Dispose();
    }
}
