using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Models;
using Inspection.Trainer.Augmentation;
using Inspection.Trainer.Datasets.Classification;
using Inspection.Trainer.Datasets.Segmentation;
using Inspection.Trainer.Training;
using OpenCvSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Cli;

/// <summary><c>trainer augment-preview</c>: a PNG grid of augmented training samples.</summary>
internal static class AugmentPreviewCommand
{
    /// <summary>The command.</summary>
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Folder per class or labels file", Required = true };
        var output = new Option<string>("--out") { Description = "PNG file to write", DefaultValueFactory = _ => "augment-preview.png" };
        var count = new Option<int>("--images") { Description = "Training images (rows)", DefaultValueFactory = _ => 6 };
        var variants = new Option<int>("--variants") { Description = "Augmented versions per image (columns after the original)", DefaultValueFactory = _ => 7 };
        var size = new Option<int>("--image-size") { Description = "Tile size", DefaultValueFactory = _ => 128 };
        var seed = new Option<int>("--seed") { Description = "Seed", DefaultValueFactory = _ => 42 };
        var command = new Command("augment-preview", "Write a PNG grid: each row one training image, first column as preprocessed, then augmented versions");
        foreach (var option in new Option[] { data, output, count, variants, size, seed }.Concat(ClassifyCommand.AugmentOptionsList))
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => CommonOptions.Guarded(parse, progress =>
        {
            var dataset = ClassificationDataset.Load(parse.GetValue(data)!, new ClassificationDataOptions { Seed = parse.GetValue(seed) });
            var path = Write(dataset, ClassifyCommand.AugmentFrom(parse), parse.GetValue(output)!, parse.GetValue(count), parse.GetValue(variants), parse.GetValue(size), parse.GetValue(seed));
            progress.Message($"wrote {path}");
            return 0;
        }));
        return command;
    }

    /// <summary>Writes the grid and returns its full path.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public static string Write(ClassificationDataset dataset, AugmentOptions options, string path, int images, int variants, int size, int seed)
    {
        var channels = dataset.DetectChannels();
        var spec = new InputSpec { Width = size, Height = size, Channels = channels, Colour = channels == 1 ? "grey" : "rgb", Mean = new float[channels], Std = Enumerable.Repeat(1f, channels).ToArray() };
        var train = dataset.In(Splits.Train);
        var picked = Enumerable.Range(0, Math.Min(images, train.Count)).Select(i => train[i * train.Count / Math.Min(images, train.Count)]).ToList();
        var set = TensorSet.Build(picked, spec);
        var augmenter = new Augmenter(options, spec, seed);
        using var canvas = new Mat(picked.Count * size, (variants + 1) * size, MatType.CV_8UC3, Scalar.All(0));
        using var scope = NewDisposeScope();
        var batch = stack(set.Tensors.Select(t => tensor(t, [channels, size, size])).ToArray());
        for (var column = 0; column <= variants; column++)
        {
            var shown = column == 0 ? batch : augmenter.Apply(batch, null, epoch: 0, batch: column).Images;
            for (var row = 0; row < picked.Count; row++)
            {
                var pixels = shown[row].clamp(0, 1).mul(255).to_type(ScalarType.Byte).permute(1, 2, 0).contiguous().data<byte>().ToArray();
                using var tile = Mat.FromPixelData(size, size, channels == 1 ? MatType.CV_8UC1 : MatType.CV_8UC3, pixels);
                using var bgr = new Mat();
                Cv2.CvtColor(tile, bgr, channels == 1 ? ColorConversionCodes.GRAY2BGR : ColorConversionCodes.RGB2BGR);
                using var cell = new Mat(canvas, new Rect(column * size, row * size, size, size));
                bgr.CopyTo(cell);
            }
        }

        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        if (!Cv2.ImWrite(full, canvas))
        {
            throw new IOException($"{full}: cannot write the PNG");
        }

        return full;
    }
}
