using OpenCvSharp;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>synthetic://?width=640&amp;height=480&amp;fps=10&amp;defect_rate=0.2&amp;seed=1&amp;frames=0</c>: frames from
/// <see cref="SyntheticScene"/>, paced at <c>fps</c> (0 = as fast as they render), endless unless <c>frames</c> &gt; 0.
/// </summary>
internal sealed class SyntheticSource : IFrameSource
{
    private readonly Mat _mask = new();
    private readonly Pacer _pacer;
    private long _frameNumber;

    /// <summary>Creates the source from its URI options.</summary>
    public SyntheticSource(SourceUri uri)
    {
        Description = uri.Masked;
        Width = uri.Int("width", 640, 32, 8192);
        Height = uri.Int("height", 480, 32, 8192);
        Fps = uri.Double("fps", 10, 0, 1000);
        DefectRate = uri.Double("defect_rate", 0.2, 0, 1);
        Seed = uri.Int("seed", 1);
        Frames = uri.Int("frames", 0, 0);
        _pacer = new Pacer(Fps);
        uri.RejectUnknownOptions();
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public bool EndOfStream => Frames > 0 && _frameNumber >= Frames;

    /// <summary>Frame width.</summary>
    public int Width { get; }

    /// <summary>Frame height.</summary>
    public int Height { get; }

    /// <summary>Frames per second delivered; 0 = unpaced.</summary>
    public double Fps { get; }

    /// <summary>Fraction of frames carrying a defect.</summary>
    public double DefectRate { get; }

    /// <summary>Scene seed.</summary>
    public int Seed { get; }

    /// <summary>Frames before the end of the stream; 0 = endless.</summary>
    public int Frames { get; }

    /// <summary>Ground truth of the last frame read.</summary>
    public SyntheticDefect? LastDefect { get; private set; }

    /// <inheritdoc />
    public void Open() => _pacer.Restart();

    /// <inheritdoc />
    public bool Read(Mat destination)
    {
        if (EndOfStream)
        {
            return false;
        }

        _frameNumber++;
        _pacer.Wait();

        LastDefect = SyntheticScene.Render(destination, _mask, Width, Height, Seed, _frameNumber, DefectRate);
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => _mask.Dispose();
}
