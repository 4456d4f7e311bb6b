using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Inspection.Trainer.Benchmarks;
using Inspection.Trainer.Training;
using TorchSharp;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer bench</c>: training images per second and milliseconds per step (forward and backward apart)
/// for each architecture and input size, on the CPU and, when present, CUDA.</summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions SnakeCaseJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The subcommand.</summary>
    public static Command Create()
    {
        var sizes = new Option<int[]>("--sizes") { Description = "square input sizes in pixels", DefaultValueFactory = _ => [128, 224], AllowMultipleArgumentsPerToken = true };
        var batch = new Option<int>("--batch") { Description = "images per step", DefaultValueFactory = _ => 16 };
        var steps = new Option<int>("--steps") { Description = "timed steps per configuration (the median is reported)", DefaultValueFactory = _ => 5 };
        var warmUp = new Option<int>("--warm-up") { Description = "untimed steps first", DefaultValueFactory = _ => 1 };
        var width = new Option<double>("--width") { Description = "width multiplier of the models", DefaultValueFactory = _ => 0.5 };
        var arch = new Option<string[]>("--arch") { Description = "only these architectures (default: all)", AllowMultipleArgumentsPerToken = true };
        var peak = new Option<double>("--peak-gflops") { Description = "the machine's limit the reached rate is compared with (this 2-core VM: ~190 G multiply-accumulates per second)", DefaultValueFactory = _ => 190 };
        var layout = new Option<string>("--layout") { Description = "memory layout of weights and input: nchw, nhwc (channels-last) or both (measured one after the other)", DefaultValueFactory = _ => "nchw" };
        var malloc = new Option<string>("--malloc") { Description = "tensor memory: keep (freed memory kept for the next step, as the trainer runs), glibc (its default: large blocks unmapped on free) or both (glibc first: the setting cannot be undone)", DefaultValueFactory = _ => "keep" };
        var json = new Option<bool>("--json") { Description = "print a JSON array instead of a table" };
        var export = new Option<string?>("--export-models") { Description = "also write packages for inspectiond bench: the first classifier among --arch at the first size and the first U-Net among --arch (else the default U-Net) at the last size (untrained weights)" };
        var int8 = new Option<bool>("--int8") { Description = "instead of training: model-only inference, FP32 against INT8 (QDQ export), batch 1, ONNX Runtime CPU with the daemon's settings; --steps is the number of timed images" };
        var threads = new Option<int>("--inference-threads") { Description = "with --int8: ONNX Runtime intra-op threads (0: its default, as the daemon)", DefaultValueFactory = _ => 0 };
        var command = new Command("bench", "Measure training speed per architecture and input size (forward, backward + optimizer step), CPU and CUDA; or, with --int8, INT8 against FP32 inference");
        foreach (var option in new Option[] { sizes, batch, steps, warmUp, width, arch, peak, layout, malloc, json, export, int8, threads })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse =>
        {
            var models = TrainingBench.Models(parse.GetValue(width));
            var only = parse.GetValue(arch) ?? [];
            var unknown = only.Where(a => models.All(m => m.Arch != a)).ToList();
            // Each is a pair of settings measured one after the other: false first, then true.
            if (PairChoice(parse, layout, "nchw", "nhwc") is not { } layouts || PairChoice(parse, malloc, "glibc", "keep") is not { } mallocModes)
            {
                return 2;
            }

            if (unknown.Count > 0 || parse.GetValue(batch) < 1 || parse.GetValue(steps) < 1 || parse.GetValue(warmUp) < 0)
            {
                Console.Error.WriteLine(unknown.Count > 0
                    ? $"trainer bench: unknown architecture {string.Join(", ", unknown)} (known: {string.Join(", ", models.Select(m => m.Arch))})"
                    : "trainer bench: --batch and --steps must be at least 1, --warm-up not negative");
                return 2;
            }

            if (parse.GetValue(int8))
            {
                return RunInt8(models.Where(m => only.Length == 0 || only.Contains(m.Arch)).ToList(), parse.GetValue(sizes)!, parse.GetValue(steps), parse.GetValue(threads), parse.GetValue(json));
            }

            var devices = new List<torch.Device> { torch.CPU };
            if (torch.cuda.is_available())
            {
                devices.Add(torch.CUDA);
            }

            var timings = new List<TrainingTiming>();
            foreach (var keepFreed in mallocModes)
            {
                if (keepFreed && !TensorMemory.KeepFreedForReuse())
                {
                    Console.Error.WriteLine("trainer bench: --malloc keep needs glibc (Linux); measured with the default allocator");
                }

                timings.AddRange(MeasureEach(
                    [.. models.Where(m => only.Length == 0 || only.Contains(m.Arch))], parse.GetValue(sizes)!, layouts, devices,
                    parse.GetValue(batch), parse.GetValue(steps), parse.GetValue(warmUp), parse.GetValue(json) ? null : parse.GetValue(peak)));
            }

            var selected = models.Where(m => only.Length == 0 || only.Contains(m.Arch)).ToList();
            if (parse.GetValue(export) is { } directory && !ExportPackages(directory, selected, models, parse.GetValue(sizes)!))
            {
                return 2;
            }

            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(timings, SnakeCaseJson));
            }

            return 0;
        });
        return command;
    }

    // An option naming one of two settings or both: [false] for the first, [true] for the second, [false, true] for both;
    // null (and the reason on stderr) for anything else.
    private static bool[]? PairChoice(ParseResult parse, Option<string> option, string whenFalse, string whenTrue)
    {
        var value = parse.GetValue(option);
        if (value == whenFalse || value == whenTrue || value == "both")
        {
            return value == "both" ? [false, true] : [value == whenTrue];
        }

        Console.Error.WriteLine($"trainer bench: {option.Name} must be {whenFalse}, {whenTrue} or both (got '{value}')");
        return null;
    }

    // --export-models: the first classifier among --arch at the first size, and the U-Net named in --arch, else the
    // default one (the first segmenter), at the last size. False (and the reason on stderr) when that cannot be done.
    private static bool ExportPackages(string directory, List<BenchModel> selected, IReadOnlyList<BenchModel> models, int[] sizes)
    {
        var classifier = selected.FirstOrDefault(m => m.Task == Config.Models.ModelTasks.Classifier);
        var segmenter = selected.FirstOrDefault(m => m.Task == Config.Models.ModelTasks.Segmenter)
            ?? models.First(m => m.Task == Config.Models.ModelTasks.Segmenter);
        if (classifier is null || sizes[^1] % segmenter.SizeMultiple != 0)
        {
            Console.Error.WriteLine($"trainer bench: --export-models needs a classifier among --arch and a last size that is a multiple of {segmenter.SizeMultiple}");
            return false;
        }

        BenchPackages.Write(directory, classifier, segmenter, sizes[0], sizes[^1], Console.Error);
        return true;
    }

    // Every device x model x size x layout combination under the current allocator setting; rows printed as they come
    // unless peakGiga is null (JSON output).
    private static List<TrainingTiming> MeasureEach(IReadOnlyList<BenchModel> models, int[] sizes, bool[] layouts, List<torch.Device> devices, int batch, int steps, int warmUp, double? peakGiga)
    {
        var timings = new List<TrainingTiming>();
        foreach (var device in devices)
        {
            foreach (var model in models)
            {
                foreach (var size in sizes.Where(s => s % model.SizeMultiple == 0))
                {
                    foreach (var channelsLast in layouts)
                    {
                        Console.Error.WriteLine($"trainer bench: {model.Arch} {size}x{size} batch {batch} on {device.type}, {(channelsLast ? "nhwc" : "nchw")}, malloc {(TensorMemory.KeepingFreed ? "keep" : "glibc")}, load average {LoadAverage()}");
                        var timing = TrainingBench.Measure(model, size, batch, steps, warmUp, device, channelsLast);
                        timings.Add(timing);
                        if (peakGiga is { } peak)
                        {
                            Console.Out.WriteLine(Row(timing, peak));
                        }
                    }
                }
            }
        }

        return timings;
    }

    private static int RunInt8(IReadOnlyList<BenchModel> models, int[] sizes, int runs, int threads, bool json)
    {
        var timings = new List<Int8Timing>();
        Console.Error.WriteLine($"trainer bench --int8: load average {LoadAverage()} before the run");
        foreach (var model in models)
        {
            foreach (var size in sizes.Where(s => s % model.SizeMultiple == 0))
            {
                Console.Error.WriteLine($"trainer bench --int8: {model.Arch} {size}x{size}, {runs} images");
                var t = Int8Bench.Measure(model, size, runs, threads);
                timings.Add(t);
                if (!json)
                {
                    var integerOps = string.Join(", ", t.Int8Ops.Where(kv => kv.Key.StartsWith("QLinear", StringComparison.Ordinal) || kv.Key.Contains("Integer", StringComparison.Ordinal) || kv.Key is "Conv" or "ConvTranspose" or "FusedConv" or "QuantizeLinear" or "DequantizeLinear")
                        .OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{t.Arch,-18}{t.Size,5}px  FP32 {t.Fp32Ms,8:F2} ms  INT8 {t.Int8Ms,8:F2} ms  INT8/FP32 throughput {t.Speedup,5:F2}x  max |INT8-FP32| {t.MaxAbsDifference:F4}  (INT8 graph after ONNX Runtime's optimizer: {integerOps})"));
                }
            }
        }

        Console.Error.WriteLine($"trainer bench --int8: load average {LoadAverage()} after the run");
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(timings, SnakeCaseJson));
        }

        return 0;
    }

    // The 1, 5 and 15 minute load averages (Linux), so every timing says how busy the machine was.
    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string Row(TrainingTiming t, double peakGiga) => string.Create(CultureInfo.InvariantCulture,
        $"{t.Arch,-18}{t.Size,5}px batch {t.Batch,-3} {t.Device,-5}{t.Layout,-5}{t.Malloc,-6}forward {t.ForwardMs,8:F1} ms  backward {t.BackwardMs,8:F1} ms  step {t.StepMs,8:F1} ms  {t.ImagesPerSecond,7:F1} img/s  {t.MinorFaultsPerStep,9:N0} faults/step  {t.Parameters,11:N0} params  {t.TrainingGigaMacsPerImage,6:F2} G/img  {t.GigaMacsPerSecond,6:F1} G/s = {t.GigaMacsPerSecond / peakGiga,4:P0} of {peakGiga}");
}
