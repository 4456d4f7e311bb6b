namespace Inspection.Config.Options;

/// <summary>The URI schemes a camera's <see cref="CameraOptions.Source"/> may use, with an example each: the config
/// validator accepts exactly these, and the Camera library's source factory opens each of them.</summary>
public static class SourceSchemes
{
    /// <summary>Scheme (case-insensitive) → an example URI with its options.</summary>
    public static readonly IReadOnlyDictionary<string, string> Examples = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["v4l2"] = "v4l2:///dev/video0?width=1280&height=720&fps=30&format=MJPG",
        ["rtsp"] = "rtsp://user:password@camera:554/stream?transport=tcp",
        ["http"] = "http://camera/video.mjpg",
        ["https"] = "https://camera/video.mjpg",
        ["file"] = "file:///videos/line1.mp4?loop=true&realtime=true",
        ["dir"] = "dir:///data/images?loop=true&fps=2",
        ["synthetic"] = "synthetic://?width=640&height=480&fps=10&defect_rate=0.2&seed=1",
    };

    /// <summary>The schemes, comma-separated, for messages.</summary>
    public static string List => string.Join(", ", Examples.Keys);
}
