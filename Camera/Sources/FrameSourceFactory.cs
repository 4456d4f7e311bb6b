using Microsoft.Extensions.Logging;

namespace Inspection.Camera.Sources;

/// <summary>Creates the source a URI names. The scheme picks the implementation; query parameters are its options.</summary>
public static class FrameSourceFactory
{
    /// <summary>Schemes this factory knows, with an example each.</summary>
    public static readonly IReadOnlyDictionary<string, string> Schemes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["v4l2"] = "v4l2:///dev/video0?width=1280&height=720&fps=30&format=MJPG",
        ["rtsp"] = "rtsp://user:password@camera:554/stream?transport=tcp",
        ["http"] = "http://camera/video.mjpg",
        ["https"] = "https://camera/video.mjpg",
        ["file"] = "file:///videos/line1.mp4?loop=true&realtime=true",
        ["dir"] = "dir:///data/images?loop=true&fps=2",
        ["synthetic"] = "synthetic://?width=640&height=480&fps=10&defect_rate=0.2&seed=1",
    };

    /// <summary>Creates (does not open) the source for <paramref name="uri"/>; throws <see cref="SourceException"/> for an unknown scheme or a bad option.</summary>
    public static IFrameSource Create(string uri) => Create(uri, null);

    /// <summary>Creates (does not open) the source for <paramref name="uri"/>, logging its warnings to <paramref name="logger"/>.</summary>
    public static IFrameSource Create(string uri, ILogger? logger)
    {
        var parsed = SourceUri.Parse(uri);
        return parsed.Scheme switch
        {
            "v4l2" => new V4l2Source(parsed, logger),
            "rtsp" or "http" or "https" => new FfmpegStreamSource(parsed, logger),
            "file" => new VideoFileSource(parsed, logger),
            "dir" => new ImageFolderSource(parsed, logger),
            "synthetic" => new SyntheticSource(parsed),
            _ => throw new SourceException($"{parsed.Masked}: unknown source scheme '{parsed.Scheme}' (known: {string.Join(", ", Schemes.Keys)})"),
        };
    }
}
