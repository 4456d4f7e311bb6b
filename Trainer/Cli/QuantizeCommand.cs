using System.CommandLine;
using Inspection.Trainer.Quantization;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer quantize</c>: the INT8 version of an existing FP32 package, gated like a trained one.</summary>
internal static class QuantizeCommand
{
    /// <summary>The value <c>--quantize</c> takes.</summary>
    public const string Int8 = "int8";

    /// <summary><c>--quantize</c> on <c>classify</c> and <c>segment</c>.</summary>
    public static readonly Option<string?> Quantize = new("--quantize") { Description = "int8: also write an INT8 (QDQ) version of the new package beside it, calibrated on training images, threshold and gate on its own ONNX Runtime scores (as trainer quantize)" };

    /// <summary>The command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The FP32 package folder, e.g. OUT/classifier/20261129-101500 or OUT/segmenter/current", Required = true };
        var data = new Option<string?>("--data") { Description = "The dataset (default: the one the package's manifest records); its split must match the package's split.csv" };
        var calibration = new Option<int>("--calibration-images") { Description = "Training-split images to calibrate activation ranges on (min-max, evenly spaced over the split)", DefaultValueFactory = _ => new QuantizeRequest { Package = "" }.CalibrationImages };
        var force = new Option<bool>("--force") { Description = "Make the INT8 package current even if the quality gate rejects it" };
        var command = new Command("quantize", "Write the INT8 (QDQ) version of an FP32 package as a new version beside it (<version>-int8); it becomes current if it passes the quality gate on its own scores");
        foreach (var option in new Option[] { model, data, calibration, force, CommonOptions.Json, CommonOptions.Threads })
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress => Execute(new QuantizeRequest
        {
            Package = parse.GetValue(model)!,
            Data = parse.GetValue(data),
            CalibrationImages = parse.GetValue(calibration),
            Force = parse.GetValue(force),
        }, progress)));
        return command;
    }

    /// <summary>Whether <c>--quantize</c> asks for INT8; any other value is an error naming it.</summary>
    public static bool WantsInt8(ParseResult parse) => parse.GetValue(Quantize) switch
    {
        null => false,
        Int8 => true,
        var other => throw new ArgumentException($"--quantize {other}: the only quantization is {Int8}"),
    };

    /// <summary>Runs a request; returns 0 when the INT8 package is current, 2 when the gate kept it beside the current one.</summary>
    public static int Execute(QuantizeRequest request, ITrainingProgress progress)
    {
        var outcome = Int8Quantization.Run(request, progress);
        if (progress is JsonProgress json)
        {
            json.Write(new { @event = "result", package = outcome.Package.Package.Directory, current = outcome.Package.IsCurrent, gate_pass = outcome.Gate.Pass, gate_reason = outcome.Gate.Reason, threshold = outcome.Package.Package.Manifest.Threshold.Value, parity = outcome.Quantization.Parity });
        }

        return outcome.Package.IsCurrent || !request.MakeCurrent ? 0 : ClassifyCommand.GateRejected;
    }
}
