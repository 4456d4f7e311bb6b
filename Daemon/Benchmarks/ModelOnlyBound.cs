using System.Diagnostics;
using System.Text.Json.Nodes;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Inference;
using Inspection.Inference;
using Microsoft.ML.OnnxRuntime;

namespace Inspection.Daemon.Benchmarks;

/// <summary>The fastest the pipeline could go: the same ONNX Runtime sessions run on pre-made tensors, nothing else.
/// Each camera's worker runs the classifier every frame and the segmenter on the same share of frames the real run
/// segmented, so the bound does the same model work as the pipeline.</summary>
internal static class ModelOnlyBound
{
    /// <summary>Frames per second over all <paramref name="cameras"/> workers, each with its own buffers (batch 1), the
    /// process's CPU milliseconds per frame meanwhile (the models' CPU, ONNX Runtime's own threads included), and that
    /// CPU by thread group, the workers' own clocks counted as <see cref="ThreadGroups.Inspecting"/>.</summary>
    public static (double Fps, double CpuMsPerFrame, JsonObject Threads) Measure(ModelSet set, int cameras, int framesPerCamera, double segmentedFraction, ThreadWatch? threads = null)
    {
        var buffers = Enumerable.Range(0, cameras).Select(_ => Filled(new ModelBuffers(set))).ToList();
        try
        {
            foreach (var b in buffers)
            {
                b.RunClassifier();
                b.RunSegmenter();
            }

            var workersCpu = 0.0;
            var reading = CpuReading.Take(threads);
            var start = Stopwatch.GetTimestamp();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            Parallel.ForEach(buffers, new ParallelOptions { MaxDegreeOfParallelism = cameras }, b =>
            {
                var workerStart = ThreadCpu.NowMs();
                var due = 0.0;
                for (var i = 0; i < framesPerCamera; i++)
                {
                    b.RunClassifier();
                    due += segmentedFraction;
                    if (due >= 1)
                    {
                        due -= 1;
                        b.RunSegmenter();
                    }
                }

                var used = ThreadCpu.NowMs() - workerStart;
                lock (buffers)
                {
                    workersCpu += used;
                }
            });
            var frames = cameras * framesPerCamera;
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
            return (frames / seconds, cpu / frames, CpuReading.Take(threads).PerFrameSince(reading, workersCpu, frames));
        }
        finally
        {
            buffers.ForEach(b => b.Dispose());
        }
    }

    /// <summary>Frames per second when one worker runs all <paramref name="cameras"/> frames as one batch; null when a
    /// model's batch axis is fixed at 1 (then batching across cameras is not possible without re-exporting).</summary>
    public static double? MeasureBatched(ModelSet set, int cameras, int batches, double segmentedFraction)
    {
        if (!HasDynamicBatch(set.Classifier) || !HasDynamicBatch(set.Segmenter))
        {
            return null;
        }

        using var classifier = new BatchBuffers(set.Classifier, cameras);
        using var segmenter = new BatchBuffers(set.Segmenter, cameras);
        classifier.Run();
        segmenter.Run();
        var start = Stopwatch.GetTimestamp();
        var due = 0.0;
        for (var i = 0; i < batches; i++)
        {
            classifier.Run();

            // With batching, the segmenter runs on a whole batch whenever any frame in it needs segmenting.
            due += 1 - Math.Pow(1 - segmentedFraction, cameras);
            if (due >= 1)
            {
                due -= 1;
                segmenter.Run();
            }
        }

        return cameras * batches / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static bool HasDynamicBatch(OnnxModel model) => model.Session.InputMetadata[model.InputNames[0]].Dimensions[0] == -1;

    private static ModelBuffers Filled(ModelBuffers buffers)
    {
        var random = new Random(7);
        foreach (var input in new[] { buffers.ClassifierInput, buffers.SegmenterInput })
        {
            for (var i = 0; i < input.Length; i++)
            {
                input[i] = (float)random.NextDouble();
            }
        }

        return buffers;
    }

    private sealed class BatchBuffers : IDisposable
    {
        private readonly OnnxModel _model;
        private readonly OrtValue[] _input;
        private readonly OrtValue[] _output;
        private readonly RunOptions _options = new();

        public BatchBuffers(OnnxModel model, int batch)
        {
            _model = model;
            var inShape = model.InputShape.ToArray();
            var outShape = model.OutputShape.ToArray();
            inShape[0] = batch;
            outShape[0] = batch;
            var data = new float[inShape.Aggregate(1L, (a, b) => a * b)];
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = (i % 251) / 251f;
            }

            _input = [OrtValue.CreateTensorValueFromMemory(data, inShape)];
            _output = [OrtValue.CreateTensorValueFromMemory(new float[outShape.Aggregate(1L, (a, b) => a * b)], outShape)];
        }

        public void Run() => _model.Session.Run(_options, _model.InputNames, _input, _model.OutputNames, _output);

        public void Dispose()
        {
            _input[0].Dispose();
            _output[0].Dispose();
            _options.Dispose();
        }
    }
}
