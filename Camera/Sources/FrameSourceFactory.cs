using Inspection.Config.Options;
using Microsoft.Extensions.Logging;

namespace Inspection.Camera.Sources;

/// <summary>Creates the source a URI names. The scheme (one of <see cref="SourceSchemes"/>) picks the implementation;
/// query parameters are its options.</summary>
public static class FrameSourceFactory
{
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
            _ => throw new SourceException($"{parsed.Masked}: unknown source scheme '{parsed.Scheme}' (known: {SourceSchemes.List})"),
        };
    }
}
