using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.Daemon.History;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Results;
using Inspection.Daemon.Review;
using Inspection.Daemon.Tampering;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using Prometheus;
using HttpResults = Microsoft.AspNetCore.Http.Results;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Inspection.Daemon.Http;

/// <summary>The operator console: Kestrel on <c>Http:Listen</c>, started and stopped with the daemon. Serves the page,
/// <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c> and the JSON API. With <c>Http:PasswordFile</c> every request except
/// the two probes needs the password (HTTP Basic, or as a bearer token); a POST also needs the CSRF token the page got
/// in its cookie, sent back in <c>X-CSRF-Token</c>. Refused requests are logged.</summary>
internal sealed partial class ConsoleServer : IHostedService, IAsyncDisposable
{
    public const string CsrfCookie = "inspectiond_csrf";
    public const string CsrfHeader = "X-CSRF-Token";
    private static readonly Regex FileName = SafeFileName();
    private readonly InspectionOptions _options;
    private readonly ILogger _logger;
    private readonly byte[]? _password;
    private readonly ModelStore _models;
    private readonly MqttConnection _mqtt;
    private readonly CameraPipelines _cameras;
    private readonly ResultHistory _history;
    private readonly ReviewQueue _review;
    private readonly TamperWatch _tampering;
    private readonly DaemonMetrics _metrics;
    private readonly StatsPublisher _stats;
    private WebApplication? _app;
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP002:Dispose member", Justification = "DisposeAsync disposes it, after the app that serves with it.")]
    private X509Certificate2? _certificate;

    public ConsoleServer(InspectionOptions options, ModelStore models, MqttConnection mqtt, CameraPipelines cameras, ResultHistory history, ReviewQueue review,
        TamperWatch tampering, DaemonMetrics metrics, StatsPublisher stats, ILogger<ConsoleServer> logger)
    {
        _options = options;
        _logger = logger;
        _models = models;
        _mqtt = mqtt;
        _cameras = cameras;
        _history = history;
        _review = review;
        _tampering = tampering;
        _metrics = metrics;
        _stats = stats;
        _password = options.Http.PasswordFile.Length > 0 ? Encoding.UTF8.GetBytes(Secrets.Read("Http:PasswordFile", options.Http.PasswordFile)) : null;
    }

    /// <summary>The base URL the server listens on (with the real port when <c>Http:Listen</c> asked for port 0), or null when off.</summary>
    public string? Url { get; private set; }

    private bool Tls => _options.Http.TlsCertFile.Length > 0;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Http.ListenEndpoint() is not { } endpoint)
        {
            return;
        }

        if (Tls)
        {
            try
            {
                // Kestrel serves with it for the console's lifetime; DisposeAsync frees it after the app.
                _certificate?.Dispose();
                _certificate = X509Certificate2.CreateFromPemFile(_options.Http.TlsCertFile, _options.Http.TlsKeyFile);
            }
            catch (CryptographicException ex)
            {
                throw new ConfigException([new ConfigError("Http:TlsCertFile", $"'{_options.Http.TlsCertFile}' with key '{_options.Http.TlsKeyFile}' is not a usable PEM certificate and key: {ex.Message}")]);
            }
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(endpoint, listen =>
            {
                if (_certificate is not null)
                {
                    listen.UseHttps(_certificate);
                }
            });
        });
        var app = builder.Build();
        app.Use(GuardAsync);
        MapProbes(app);
        MapPage(app);
        MapCameras(app);
        MapResults(app);
        MapReview(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // Address in use or not ours: inspection matters more than the console; say so and go on without it.
            LogCannotListen(_logger, _options.Http.Listen, ex.Message);
            await app.DisposeAsync().ConfigureAwait(false);
            return;
        }

        _app = app;
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Url = bound.Replace("://[::]", "://[::1]", StringComparison.Ordinal).Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal) + "/";
        LogListening(_logger, bound, _password is null ? "no authentication (loopback)" : "password required");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }

        _certificate?.Dispose();
    }

    private async Task GuardAsync(HttpContext context, Func<Task> next)
    {
        var path = context.Request.Path.Value ?? "/";
        var probe = path is "/healthz" or "/readyz";
        if (_password is not null && !probe && !Authenticated(context.Request))
        {
            Refuse(context, StatusCodes.Status401Unauthorized, "missing or wrong credentials");
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"inspectiond\", charset=\"UTF-8\"";
            return;
        }

        if (HttpMethods.IsPost(context.Request.Method) && CsrfProblem(context.Request) is { } problem)
        {
            Refuse(context, StatusCodes.Status403Forbidden, problem);
            return;
        }

        // The page's GET hands out the CSRF token: a cookie only this origin's scripts can read (SameSite=Strict).
        if (path == "/" && !context.Request.Cookies.ContainsKey(CsrfCookie))
        {
            context.Response.Cookies.Append(CsrfCookie, Convert.ToHexString(RandomNumberGenerator.GetBytes(24)),
                new CookieOptions { SameSite = SameSiteMode.Strict, Secure = Tls, HttpOnly = false, Path = "/" });
        }

        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.XFrameOptions = "DENY";
        await next().ConfigureAwait(false);
    }

    private bool Authenticated(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        byte[] given;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            given = Encoding.UTF8.GetBytes(header[7..].Trim());
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            }
            catch (FormatException)
            {
                return false;
            }

            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || decoded[..colon] != _options.Http.Username)
            {
                return false;
            }

            given = Encoding.UTF8.GetBytes(decoded[(colon + 1)..]);
        }
        else
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(given, _password);
    }

    private static string? CsrfProblem(HttpRequest request)
    {
        var cookie = request.Cookies[CsrfCookie];
        var header = request.Headers[CsrfHeader].ToString();
        if (string.IsNullOrEmpty(cookie) || header.Length == 0)
        {
            return "POST without the CSRF token (load the page first; send its cookie back in " + CsrfHeader + ")";
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(cookie), Encoding.ASCII.GetBytes(header)))
        {
            return "POST with a CSRF token that does not match the cookie";
        }

        var origin = request.Headers.Origin.ToString();
        return origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase)
            ? $"POST from another origin ({origin})" : null;
    }

    private void Refuse(HttpContext context, int status, string reason)
    {
        LogRefused(_logger, status, context.Request.Method, context.Request.Path.Value ?? "", context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
        context.Response.StatusCode = status;
    }

    // Liveness, readiness and the Prometheus metrics.
    private void MapProbes(WebApplication app)
    {
        var (models, mqtt) = (_models, _mqtt);
        app.MapGet("/healthz", () => HttpResults.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            // Ready: models loaded, and a result has somewhere to go (the broker, or the outbox folder while it is away).
            var loaded = models.IsLoaded;
            var broker = mqtt.IsConnected;
            var outbox = Directory.Exists(_options.Outbox.Directory);
            var body = new JsonObject { ["ready"] = loaded && (broker || outbox), ["models_loaded"] = loaded, ["mqtt_connected"] = broker, ["outbox"] = outbox };
            return Json(body, loaded && (broker || outbox) ? 200 : 503);
        });
        app.MapMetrics("/metrics", _metrics.Registry);
    }

    private static void MapPage(WebApplication app)
    {
        app.MapGet("/", () => Page("index.html"));
        app.MapGet("/app.js", () => Page("app.js"));
        app.MapGet("/app.css", () => Page("app.css"));
    }

    // The cameras with their last result, the live frame, and flagging the live frame for review.
    private void MapCameras(WebApplication app)
    {
        var (cameras, history, review, tampering) = (_cameras, _history, _review, _tampering);
        app.MapGet("/api/cameras", () =>
        {
            var list = new JsonArray();
            foreach (var p in cameras.All)
            {
                var stats = p.CaptureStats;
                var last = history.Latest(p.Id);
                list.Add(new JsonObject
                {
                    ["id"] = p.Id,
                    ["source"] = EffectiveSettings.MaskUriCredentials(p.Camera.Source), // as check-config shows it: no password
                    ["state"] = p.StateName(stats),
                    ["paused"] = p.Paused,
                    ["fps"] = Math.Round(stats.Fps, 2),
                    ["alarm"] = tampering.AlarmOf(p.Id),
                    ["last"] = last is null ? null : JsonSerializer.SerializeToNode(last, ResultJsonContext.Default.InspectionResult),
                });
            }

            return Json(list);
        });
        app.MapGet("/api/cameras/{id}/frame.jpg", (HttpContext context, string id, int? width) =>
        {
            using var frame = cameras.Find(id)?.TryGetLatest();
            if (frame is null)
            {
                return HttpResults.NotFound();
            }

            // The page scales result regions (frame pixels) onto the picture with these.
            context.Response.Headers["X-Frame-Width"] = frame.Image.Width.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers["X-Frame-Height"] = frame.Image.Height.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Jpeg(frame.Image, width ?? 640, "no-store");
        });
        app.MapPost("/api/cameras/{id}/flag", (string id) =>
        {
            using var frame = cameras.Find(id)?.TryGetLatest();
            return frame is null ? HttpResults.NotFound() : Json(new JsonObject { ["review_id"] = review.FlagFrame(id, frame.Image, frame.CapturedAt) });
        });
    }

    // The result history, its stats and snapshots.
    private void MapResults(WebApplication app)
    {
        var (history, review) = (_history, _review);
        app.MapGet("/api/results", (string? camera, bool? defect, string? part_id, DateTimeOffset? since, DateTimeOffset? until, int? limit) =>
            Json(JsonSerializer.SerializeToNode(history.Query(new ResultQuery(camera, defect, part_id, since, until, limit ?? 50)), HistoryJson.Default.IReadOnlyListHistoryRow)));
        app.MapGet("/api/results/{id}", (string id) =>
            history.Find(id) is { } row ? Json(JsonSerializer.SerializeToNode(row, HistoryJson.Default.HistoryRow)) : HttpResults.NotFound());
        app.MapPost("/api/results/{id}/flag", (string id) =>
            review.FlagResult(id) is { } reviewId ? Json(new JsonObject { ["review_id"] = reviewId }) : HttpResults.NotFound());

        app.MapGet("/api/stats", () =>
        {
            var stats = _stats.Snapshot();
            var lastHour = new JsonObject();
            foreach (var (camera, (results, defects)) in history.Counts(DateTimeOffset.UtcNow.AddHours(-1)))
            {
                lastHour[camera] = new JsonObject { ["results"] = results, ["defects"] = defects };
            }

            stats["last_hour"] = lastHour;
            stats["review_waiting"] = review.Count;
            return Json(stats);
        });

        app.MapGet("/snapshots/{file}", (string file, int? width) => ServeFile(_options.Snapshots.Directory, file, width));
    }

    // The review queue: its pictures, the list and the operator's labels.
    private void MapReview(WebApplication app)
    {
        var review = _review;
        app.MapGet("/review/{file}", (string file, int? width) => ServeFile(_options.Review.Directory, file, width));
        app.MapGet("/api/review", (int? limit) => Json(new JsonObject { ["waiting"] = review.Count, ["items"] = review.List(Math.Clamp(limit ?? 48, 1, 1000)) }));
        app.MapPost("/api/review/{id}/{label}", (string id, string label) =>
            !ReviewQueue.Labels.Contains(label) ? HttpResults.BadRequest(new { error = $"label '{label}' is not one of good, defect" })
            : review.Label(id, label) is { } moved ? Json(new JsonObject { ["id"] = id, ["label"] = label, ["path"] = moved })
            : HttpResults.NotFound());
    }

    private static IResult ServeFile(string folder, string file, int? width)
    {
        if (folder.Length == 0 || !FileName.IsMatch(file))
        {
            return HttpResults.NotFound();
        }

        var path = Path.Combine(folder, file);
        if (!File.Exists(path))
        {
            return HttpResults.NotFound();
        }

        if (width is null)
        {
            return HttpResults.File(path, file.EndsWith(".png", StringComparison.Ordinal) ? "image/png" : "image/jpeg");
        }

        using var image = Cv2.ImRead(path, ImreadModes.Color);
        return image.Empty() ? HttpResults.NotFound() : Jpeg(image, width.Value, "max-age=3600");
    }

    // Thumbnails for lists: a tablet on the line loads a few KB per item, not a full frame.
    private static BytesResult Jpeg(Mat image, int width, string cache)
    {
        width = Math.Clamp(width, 32, image.Width);
        using var scaled = new Mat();
        if (width < image.Width)
        {
            Cv2.Resize(image, scaled, new Size(width, (int)Math.Round(image.Height * (double)width / image.Width)), 0, 0, InterpolationFlags.Area);
        }
        else
        {
            image.CopyTo(scaled);
        }

        Cv2.ImEncode(".jpg", scaled, out var bytes, new ImageEncodingParam(ImwriteFlags.JpegQuality, 80));
        return new BytesResult(bytes, "image/jpeg", cache);
    }

    private static BytesResult Page(string name)
    {
        using var stream = typeof(ConsoleServer).Assembly.GetManifestResourceStream("wwwroot/" + name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var type = name.EndsWith(".js", StringComparison.Ordinal) ? "text/javascript" : name.EndsWith(".css", StringComparison.Ordinal) ? "text/css" : "text/html";
        return new BytesResult(copy.ToArray(), type + "; charset=utf-8", "no-cache");
    }

    private static IResult Json(JsonNode? node, int status = 200) =>
        HttpResults.Text(node?.ToJsonString() ?? "null", "application/json", Encoding.UTF8, status);

    private sealed class BytesResult(byte[] bytes, string type, string cache) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.ContentType = type;
            context.Response.Headers.CacheControl = cache;
            context.Response.ContentLength = bytes.Length;
            return context.Response.Body.WriteAsync(bytes).AsTask();
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+(\\.[A-Za-z0-9]+)+$")]
    private static partial Regex SafeFileName();

    [LoggerMessage(Level = LogLevel.Information, Message = "console on {Url} ({Auth})")]
    private static partial void LogListening(ILogger logger, string url, string auth);

    [LoggerMessage(Level = LogLevel.Error, Message = "console cannot listen on {Listen} ({Error}); inspection goes on without it (Http:Listen)")]
    private static partial void LogCannotListen(ILogger logger, string listen, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "console refused {Status} {Method} {Path} from {Remote}: {Reason}")]
    private static partial void LogRefused(ILogger logger, int status, string method, string path, string remote, string reason);
}
