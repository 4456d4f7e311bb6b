using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Inspection.Camera;
using Inspection.Config.Models;
using Inspection.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Augmentation;

/// <summary>
/// Augmentation settings. Each transform is switched off by its flag or a zero range. Geometric ranges are fractions
/// of the image size (shift) or factors (zoom); photometric ones are in pixel units of [0, 1].
/// </summary>
internal sealed record AugmentOptions
{
    /// <summary>Mirror left–right with probability 1/2.</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Mirror top–bottom with probability 1/2.</summary>
    public bool VerticalFlip { get; init; } = true;

    /// <summary>Turn by 0, 90, 180 or 270 degrees (square inputs only).</summary>
    public bool Rotate90 { get; init; } = true;

    /// <summary>Small rotation, uniform in ± this many degrees.</summary>
    public double RotationDegrees { get; init; } = 10;

    /// <summary>Shift, uniform in ± this fraction of width and height.</summary>
    public double Shift { get; init; } = 0.05;

    /// <summary>Zoom factor range (1 = off); above 1 magnifies.</summary>
    public double ZoomMin { get; init; } = 0.9;

    /// <summary>Upper end of the zoom range.</summary>
    public double ZoomMax { get; init; } = 1.1;

    /// <summary>Brightness offset, uniform in ± this (pixel units).</summary>
    public double Brightness { get; init; } = 0.1;

    /// <summary>Contrast factor, uniform in 1 ± this.</summary>
    public double Contrast { get; init; } = 0.15;

    /// <summary>Gaussian noise standard deviation, uniform in [0, this] per image (pixel units).</summary>
    public double Noise { get; init; } = 0.02;

    /// <summary>Probability of a gaussian blur.</summary>
    public double BlurProbability { get; init; } = 0.2;

    /// <summary>Largest blur sigma in pixels (drawn uniformly from [0.3, this]).</summary>
    public double BlurSigma { get; init; } = 1.0;

    /// <summary>Everything off (validation and test data are never augmented).</summary>
    public static AugmentOptions None { get; } = new()
    {
        HorizontalFlip = false, VerticalFlip = false, Rotate90 = false, RotationDegrees = 0, Shift = 0, ZoomMin = 1, ZoomMax = 1,
        Brightness = 0, Contrast = 0, Noise = 0, BlurProbability = 0,
    };

    /// <summary>Settings as text, for the manifest and the report.</summary>
    public Dictionary<string, string> Describe() => new()
    {
        ["horizontal_flip"] = HorizontalFlip.ToString(),
        ["vertical_flip"] = VerticalFlip.ToString(),
        ["rotate90"] = Rotate90.ToString(),
        ["rotation_degrees"] = F(RotationDegrees),
        ["shift"] = F(Shift),
        ["zoom"] = $"{F(ZoomMin)}..{F(ZoomMax)}",
        ["brightness"] = F(Brightness),
        ["contrast"] = F(Contrast),
        ["noise"] = F(Noise),
        ["blur_probability"] = F(BlurProbability),
        ["blur_sigma"] = F(BlurSigma),
    };

    /// <summary>Rejects ranges that make no sense, naming the setting.</summary>
    public void Validate()
    {
        if (RotationDegrees is < 0 or > 180 || Shift is < 0 or > 0.5 || ZoomMin <= 0 || ZoomMax < ZoomMin || Brightness is < 0 or > 1
            || Contrast is < 0 or >= 1 || Noise is < 0 or > 1 || BlurProbability is < 0 or > 1 || BlurSigma < 0.3)
        {
            throw new ArgumentException($"augmentation settings out of range: {string.Join(", ", Describe().Select(kv => $"{kv.Key}={kv.Value}"))}" +
                " (rotation 0-180, shift 0-0.5, 0 < zoom-min <= zoom-max, brightness 0-1, contrast 0-<1, noise 0-1, blur probability 0-1, blur sigma >= 0.3)");
        }
    }

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>
/// Seeded augmentation of a batch of preprocessed tensors (N×C×H×W, normalised as the input spec says). Geometric
/// transforms (flips, 90° turns, rotation, shift, zoom) are one affine resampling per image and take an optional mask
/// batch that receives exactly the same transform (nearest-neighbour, so it stays binary); photometric transforms
/// (brightness, contrast, noise, blur) touch the image only. The same seed, epoch and batch index give the same result.
/// </summary>
internal sealed class Augmenter
{
    private readonly AugmentOptions _options;
    private readonly InputSpec _spec;
    private readonly int _seed;

    /// <summary>Creates an augmenter for tensors that follow <paramref name="spec"/>.</summary>
    public Augmenter(AugmentOptions options, InputSpec spec, int seed)
    {
        options.Validate();
        _options = options;
        _spec = spec;
        _seed = seed;
    }

    /// <summary>The settings.</summary>
    public AugmentOptions Options => _options;

    /// <summary>Augments a batch; returns new tensors (the inputs are not changed).</summary>
    public (Tensor Images, Tensor? Masks) Apply(Tensor images, Tensor? masks, int epoch, int batch)
    {
        var random = new Random(StableSeed.Combine(_seed, epoch, batch));
        using var scope = NewDisposeScope();
        var (x, m) = Geometric(images, masks, random);
        if (_options.Brightness > 0 || _options.Contrast > 0 || _options.Noise > 0 || _options.BlurProbability > 0)
        {
            x = Photometric(x, random);
        }

        x.MoveToOuterDisposeScope();
        m?.MoveToOuterDisposeScope();
        return (x, m);
    }

    /// <summary>Flips, 90° turns, rotation, shift and zoom; the mask (N×1×H×W, any float values) follows the image.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public (Tensor Images, Tensor? Masks) Geometric(Tensor images, Tensor? masks, Random random)
    {
        var n = (int)images.shape[0];
        var theta = new float[n * 6];
        var any = false;
        var square = images.shape[2] == images.shape[3];
        for (var i = 0; i < n; i++)
        {
            var flipX = _options.HorizontalFlip && random.Next(2) == 1 ? -1.0 : 1.0;
            var flipY = _options.VerticalFlip && random.Next(2) == 1 ? -1.0 : 1.0;
            var quarter = _options.Rotate90 && square ? random.Next(4) : 0;
            var angle = (quarter * Math.PI / 2) + (Uniform(random, -_options.RotationDegrees, _options.RotationDegrees) * Math.PI / 180);
            var zoom = Uniform(random, _options.ZoomMin, _options.ZoomMax);
            var tx = Uniform(random, -_options.Shift, _options.Shift) * 2; // normalised coordinates span 2
            var ty = Uniform(random, -_options.Shift, _options.Shift) * 2;

            // theta maps output coordinates to where they are sampled in the input: rotate, scale by 1/zoom, mirror, shift.
            var cos = Math.Cos(angle) / zoom;
            var sin = Math.Sin(angle) / zoom;
            theta[(i * 6) + 0] = (float)(cos * flipX);
            theta[(i * 6) + 1] = (float)(-sin * flipY);
            theta[(i * 6) + 2] = (float)tx;
            theta[(i * 6) + 3] = (float)(sin * flipX);
            theta[(i * 6) + 4] = (float)(cos * flipY);
            theta[(i * 6) + 5] = (float)ty;
            any |= Math.Abs(theta[(i * 6) + 0] - 1) > 1e-6 || Math.Abs(theta[(i * 6) + 4] - 1) > 1e-6 || Math.Abs(theta[(i * 6) + 1]) > 1e-6
                   || Math.Abs(theta[(i * 6) + 3]) > 1e-6 || tx != 0 || ty != 0;
        }

        if (!any)
        {
            return (images.alias(), masks?.alias());
        }

        using var scope = NewDisposeScope();
        var grid = nn.functional.affine_grid(tensor(theta, [n, 2, 3]).to(images.device), images.shape, align_corners: false);
        var x = nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Reflection, align_corners: false);
        var m = masks is null ? null : nn.functional.grid_sample(masks, grid, GridSampleMode.Nearest, GridSamplePaddingMode.Zeros, align_corners: false);
        x.MoveToOuterDisposeScope();
        m?.MoveToOuterDisposeScope();
        return (x, m);
    }

    /// <summary>Brightness, contrast, noise and blur, computed in pixel units and normalised back.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    public Tensor Photometric(Tensor images, Random random)
    {
        var n = (int)images.shape[0];
        var channels = images.shape[1];
        using var scope = NewDisposeScope();
        var mean = tensor(_spec.Mean, [1, channels, 1, 1]).to(images.device);
        var std = tensor(_spec.Std, [1, channels, 1, 1]).to(images.device);
        var pixels = (images * std) + mean;

        var contrast = new float[n];
        var brightness = new float[n];
        var noise = new float[n];
        for (var i = 0; i < n; i++)
        {
            contrast[i] = (float)Uniform(random, 1 - _options.Contrast, 1 + _options.Contrast);
            brightness[i] = (float)Uniform(random, -_options.Brightness, _options.Brightness);
            noise[i] = (float)Uniform(random, 0, _options.Noise);
        }

        pixels = ((pixels - 0.5f) * tensor(contrast, [n, 1, 1, 1]).to(images.device)) + 0.5f + tensor(brightness, [n, 1, 1, 1]).to(images.device);
        if (_options.Noise > 0)
        {
            using var generator = new Generator((ulong)random.NextInt64(long.MaxValue));
            pixels += randn(pixels.shape, generator: generator).to(images.device) * tensor(noise, [n, 1, 1, 1]).to(images.device);
        }

        if (_options.BlurProbability > 0)
        {
            var blurred = new List<Tensor>(n);
            for (var i = 0; i < n; i++)
            {
                var one = pixels[i].unsqueeze(0);
                blurred.Add(random.NextDouble() < _options.BlurProbability ? Blur(one, Uniform(random, 0.3, _options.BlurSigma)) : one);
            }

            pixels = cat(blurred, 0);
        }

        return ((pixels.clamp(0, 1) - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>Separable gaussian blur of one image (1×C×H×W) with reflected borders.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = TorchOwnership.DisposeScope)]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP003:Dispose previous before re-assigning", Justification = TorchOwnership.DisposeScope)]
    public static Tensor Blur(Tensor image, double sigma)
    {
        var radius = Math.Max(1, (int)Math.Ceiling(2 * sigma));
        var weights = Enumerable.Range(-radius, (2 * radius) + 1).Select(k => Math.Exp(-k * k / (2 * sigma * sigma))).ToArray();
        var sum = weights.Sum();
        var kernel = weights.Select(w => (float)(w / sum)).ToArray();
        var channels = image.shape[1];
        using var scope = NewDisposeScope();
        var size = kernel.Length;
        var horizontal = tensor(kernel, [1, 1, 1, size]).to(image.device).expand(channels, 1, 1, size);
        var vertical = tensor(kernel, [1, 1, size, 1]).to(image.device).expand(channels, 1, size, 1);
        var padded = nn.functional.pad(image, [radius, radius, radius, radius], PaddingModes.Reflect);
        var x = nn.functional.conv2d(padded, horizontal, groups: channels);
        x = nn.functional.conv2d(x, vertical, groups: channels);
        return x.MoveToOuterDisposeScope();
    }

    private static double Uniform(Random random, double low, double high) => high <= low ? low : low + (random.NextDouble() * (high - low));
}
