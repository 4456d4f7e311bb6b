using Inspection.Camera.Preprocessing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Camera.Sources;

/// <summary>
/// <c>dir:///data/images?loop=true&amp;fps=2</c>: the images (PNG, BMP, JPEG, TIFF) in a folder, in ordinal name order,
/// for replays and offline inspection. Files that are not images are listed once at open; images that fail to decode
/// are skipped with a logged reason naming the file. <c>fps</c> paces the replay (0 = as fast as they decode).
/// </summary>
internal sealed partial class ImageFolderSource : IFrameSource
{
    private readonly string _folder;
    private readonly ILogger _logger;
    private readonly Pacer _pacer;
    private string[] _files = [];
    private int _next;
    private int _decodedThisPass;

    /// <summary>Creates the source from its URI options.</summary>
    public ImageFolderSource(SourceUri uri, ILogger? logger = null)
    {
        Description = uri.Masked;
        _folder = uri.LocalPath;
        _logger = logger ?? NullLogger.Instance;
        Loop = uri.Bool("loop", false);
        _pacer = new Pacer(uri.Double("fps", 0, 0, 1000));
        uri.RejectUnknownOptions();
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <inheritdoc />
    public bool EndOfStream { get; private set; }

    /// <summary>Start again after the last image.</summary>
    public bool Loop { get; }

    /// <summary>Images skipped because they could not be decoded.</summary>
    public int CorruptFiles { get; private set; }

    /// <summary>The image of the last frame read.</summary>
    public string? CurrentFile { get; private set; }

    /// <inheritdoc />
    public void Open()
    {
        if (!Directory.Exists(_folder))
        {
            throw new SourceException($"{Description}: image folder {_folder} does not exist");
        }

        var all = Directory.GetFiles(_folder).Order(StringComparer.Ordinal).ToArray();
        _files = all.Where(ImageFiles.IsImage).ToArray();
        var others = all.Where(f => !ImageFiles.IsImage(f)).Select(Path.GetFileName).ToList();
        if (others.Count > 0)
        {
            LogIgnoredFiles(_logger, Description, others.Count, string.Join(", ", ImageFiles.Extensions.Order()), string.Join(", ", others.Take(10)));
        }

        if (_files.Length == 0)
        {
            throw new SourceException($"{Description}: no images ({string.Join(", ", ImageFiles.Extensions.Order())}) in {_folder}");
        }

        _next = 0;
        _decodedThisPass = 0;
        _pacer.Restart();
    }

    /// <inheritdoc />
    public bool Read(Mat destination)
    {
        while (true)
        {
            if (_next >= _files.Length)
            {
                // A pass that decoded nothing would loop forever on corrupt files: that is the end, looping or not.
                if (!Loop || _decodedThisPass == 0)
                {
                    EndOfStream = true;
                    return false;
                }

                _next = 0;
                _decodedThisPass = 0;
            }

            var file = _files[_next++];
            try
            {
                using var image = ImageFiles.Read(file);
                _pacer.Wait();
                image.CopyTo(destination);
                _decodedThisPass++;
                CurrentFile = file;
                return true;
            }
            catch (ImageReadException ex)
            {
                CorruptFiles++;
                LogSkipped(_logger, Description, ex.Message);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source}: ignoring {Count} file(s) that are not images ({Extensions}): {Files}")]
    private static partial void LogIgnoredFiles(ILogger logger, string source, int count, string extensions, string files);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source}: skipping image: {Reason}")]
    private static partial void LogSkipped(ILogger logger, string source, string reason);
}
