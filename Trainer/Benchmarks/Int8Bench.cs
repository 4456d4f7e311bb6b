using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Export;
using Inspection.Trainer.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace Inspection.Trainer.Benchmarks;

/// <summary>One architecture and size: FP32 and INT8 model-only inference, timed alternately in one run.</summary>
/// <param name="Arch">Architecture name.</param>
/// <param name="Size">Square input side.</param>
/// <param name="Fp32Ms">Median milliseconds per image, FP32.</param>
/// <param name="Int8Ms">Median milliseconds per image, INT8 (QDQ, fused by ONNX Runtime).</param>
/// <param name="MaxAbsDifference">Largest |INT8 − FP32| output over the timed inputs.</param>
/// <param name="Int8Ops">Op counts of the INT8 graph after ONNX Runtime's optimizer: which integer kernels it runs.</param>
internal sealed record Int8Timing(string Arch, int Size, double Fp32Ms, double Int8Ms, double MaxAbsDifference, IReadOnlyDictionary<string, int> Int8Ops)
{
    /// <summary>INT8 throughput ÷ FP32 throughput.</summary>
    public double Speedup => Fp32Ms / Int8Ms;
}

/// <summary>
/// <c>trainer bench --int8</c>: exports each model (seeded, untrained: inference costs the same after training) as
/// FP32 ONNX, quantizes it with <see cref="QdqQuantizer"/> calibrated on a few synthetic normalised images, and
/// times both in ONNX Runtime with the daemon's session settings (all optimizations, default threads, batch 1),
/// alternating FP32 and INT8 runs so machine load hits both alike.
/// </summary>
internal static class Int8Bench
{
    /// <summary>Measures one model at one size.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DefaultGenerator)]
    public static Int8Timing Measure(BenchModel model, int size, int runs, int threads, string? optimizedGraphDirectory = null)
    {
        torch.manual_seed(42);
        using var module = model.Create();
        var fp32 = OnnxExporter.Export(module, 1, size, size).Onnx;
        var inputs = Enumerable.Range(0, 4).Select(seed => SyntheticImage(size, seed)).ToList();
        var int8 = QdqQuantizer.Quantize(fp32, QdqQuantizer.Calibrate(fp32, inputs));
        var optimized = Path.Combine(optimizedGraphDirectory ?? Path.GetTempPath(), $"int8-{model.Arch}-{size}-{Environment.ProcessId}.optimized.onnx");
        using var fp32Session = Session(fp32, threads, null);
        using var int8Session = Session(int8, threads, optimized);
        var ops = OnnxModelReader.Read(File.ReadAllBytes(optimized)).Nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        if (optimizedGraphDirectory is null)
        {
            File.Delete(optimized);
        }

        var shape = new long[] { 1, 1, size, size };
        var fp32Times = new List<double>();
        var int8Times = new List<double>();
        var maxDiff = 0.0;
        for (var run = -1; run < runs; run++)
        {
            var input = inputs[(run + 4) % inputs.Count];
            var (a, ta) = Time(fp32Session, input, shape);
            var (b, tb) = Time(int8Session, input, shape);
            if (run < 0)
            {
                continue; // warm-up
            }

            fp32Times.Add(ta);
            int8Times.Add(tb);
            maxDiff = Math.Max(maxDiff, a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max());
        }

        return new Int8Timing(model.Arch, size, Median(fp32Times), Median(int8Times), maxDiff, ops);
    }

    private static InferenceSession Session(byte[] onnx, int threads, string? optimizedPath)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads > 0)
        {
            options.IntraOpNumThreads = threads;
        }

        if (optimizedPath is not null)
        {
            options.OptimizedModelFilePath = optimizedPath;
            options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR; // not the warning that an optimized graph is machine-specific: it is only read for its op counts
        }

        return new InferenceSession(onnx, options);
    }

    private static (float[] Output, double Ms) Time(InferenceSession session, float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        var start = Stopwatch.GetTimestamp();
        using var results = session.Run(runOptions, [session.InputNames[0]], [value], [session.OutputNames[0]]);
        var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return (results[0].GetTensorDataAsSpan<float>().ToArray(), ms);
    }

    // Smooth shapes plus noise, normalised roughly as the preprocessor does (mean 0, std ~1).
    private static float[] SyntheticImage(int size, int seed)
    {
        var random = new Random(seed);
        var data = new float[size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                data[(y * size) + x] = (float)(Math.Sin((x + seed) * 0.07) * Math.Cos(y * 0.05) + ((random.NextDouble() - 0.5) * 0.5));
            }
        }

        return data;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
