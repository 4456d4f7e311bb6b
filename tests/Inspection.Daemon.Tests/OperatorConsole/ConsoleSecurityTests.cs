using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Inspection.Config.Loading;
using Inspection.Config.Options;
using Inspection.Daemon.Http;
using Inspection.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>The console away from loopback: a password is required by the configuration, every request but the probes
/// needs it, and a POST also needs the CSRF token; refusals are logged.</summary>
public sealed class ConsoleSecurityTests
{
    [Fact]
    public void Listening_beyond_loopback_without_a_password_is_a_configuration_error()
    {
        var options = new InspectionOptions { Http = new HttpOptions { Listen = "0.0.0.0:8080" } };
        var error = Assert.Single(ConfigValidator.Validate(options), e => e.Key.StartsWith("Http", StringComparison.Ordinal));
        Assert.Equal("Http:PasswordFile", error.Key);
        options.Http.Listen = "localhost";
        Assert.Contains(ConfigValidator.Validate(options), e => e.Key == "Http:Listen");
        options.Http.Listen = "[::1]:8080";
        Assert.DoesNotContain(ConfigValidator.Validate(options), e => e.Key.StartsWith("Http", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_without_the_password_are_refused_and_logged_and_a_post_needs_the_csrf_token()
    {
        using var temp = new TempDirectory("console-auth");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        // A camera whose URI holds a password (nothing listens there: it keeps failing, with errors that name the source).
        var daemon = new DaemonUnderTest(temp, broker.Port, new CameraOptions { Id = "gate", Source = "rtsp://admin:s3cret-cam@127.0.0.1:9/stream" });
        await using var _ = daemon;
        File.WriteAllText(temp.Combine("console.password"), "s3cret\n");
        daemon.Options.Http = new HttpOptions { Listen = "0.0.0.0:0", PasswordFile = temp.Combine("console.password") };
        Assert.DoesNotContain(ConfigValidator.Validate(daemon.Options), e => e.Key.StartsWith("Http", StringComparison.Ordinal));
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        using var log = new ListLoggerProvider();
        await daemon.StartAsync(logging => logging.AddProvider(log));
        var url = daemon.Host!.Services.GetRequiredService<ConsoleServer>().Url!;
        using var http = new HttpClient { BaseAddress = new Uri(url) };

        Assert.Equal(HttpStatusCode.OK, await Responses.StatusOf(http.GetAsync("/healthz")));

        using var refused = await http.GetAsync("/api/cameras");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("Basic", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:wrong")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Responses.StatusOf(http.GetAsync("/metrics")));

        Assert.Contains(log.Logger.Lines, m => m.Contains("console refused 401 GET /metrics", StringComparison.Ordinal));

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:s3cret")));
        Assert.Equal(HttpStatusCode.OK, await Responses.StatusOf(http.GetAsync("/api/cameras")));

        using var page = await http.GetAsync("/");
        Assert.DoesNotContain("s3cret", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await Task.Delay(500);
        foreach (var path in new[] { "/api/cameras", "/api/stats", "/metrics", "/app.js" })
        {
            Assert.DoesNotContain("s3cret", await http.GetStringAsync(path), StringComparison.Ordinal);
        }

        Assert.Contains("rtsp://admin:***@127.0.0.1:9/stream", await http.GetStringAsync("/api/cameras"), StringComparison.Ordinal);
        var cookie = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ConsoleServer.CsrfCookie, StringComparison.Ordinal));
        var token = cookie.Split(';')[0].Split('=')[1];

        // Authenticated but without the token: refused. With the cookie and a different header: refused. Matching: passes the guard.
        using var bare = await http.PostAsync("/api/review/x/good", null);
        Assert.Equal(HttpStatusCode.Forbidden, bare.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, await Responses.StatusOf(PostAsync(http, "/api/review/x/good", token, "0000")));

        Assert.Equal(HttpStatusCode.NotFound, await Responses.StatusOf(PostAsync(http, "/api/review/x/good", token, token)));
        Assert.Equal(HttpStatusCode.Forbidden, await Responses.StatusOf(PostAsync(http, "/api/review/x/good", token, token, origin: "http://evil.example")));

        Assert.Contains(log.Logger.Lines, m => m.Contains("console refused 403 POST /api/review/x/good", StringComparison.Ordinal) && m.Contains("evil.example", StringComparison.Ordinal));
    }

    [RequiresToolFact("openssl")]
    public async Task With_a_certificate_the_console_speaks_https_only_and_its_csrf_cookie_is_secure()
    {
        using var temp = new TempDirectory("console-tls");
        Tools.RunIn(temp.Path, TimeSpan.FromMinutes(1), "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "console.key", "-out", "console.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1");
        await using var broker = new TestBroker();
        await broker.StartAsync();
        var daemon = new DaemonUnderTest(temp, broker.Port);
        await using var _ = daemon;
        daemon.Options.Http = new HttpOptions { Listen = "127.0.0.1:0", TlsCertFile = temp.Combine("console.pem"), TlsKeyFile = temp.Combine("console.key") };
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        await daemon.StartAsync();
        var url = daemon.Host!.Services.GetRequiredService<ConsoleServer>().Url!;
        Assert.StartsWith("https://127.0.0.1:", url, StringComparison.Ordinal);

        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(temp.Combine("console.pem")));
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert?.Thumbprint == certificate.Thumbprint };
        using var https = new HttpClient(handler) { BaseAddress = new Uri(url) };
        Assert.Equal("ok\n", await https.GetStringAsync("/healthz"));
        using var page = await https.GetAsync("/");
        Assert.Contains("secure", page.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);

        using var plain = new HttpClient { BaseAddress = new Uri(url.Replace("https://", "http://", StringComparison.Ordinal)) };
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetStringAsync("/healthz"));
        await daemon.StopAsync();

        // A certificate file that is not one: the start fails naming the key, as any bad configuration does.
        File.WriteAllText(temp.Combine("console.pem"), "not a certificate");
        var error = await Assert.ThrowsAsync<ConfigException>(() => daemon.StartAsync());
        Assert.Contains("Http:TlsCertFile", error.Message, StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, string cookie, string header, string? origin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Add("Cookie", $"{ConsoleServer.CsrfCookie}={cookie}");
        request.Headers.Add(ConsoleServer.CsrfHeader, header);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return await http.SendAsync(request);
    }
}

/// <summary>Hands one <see cref="ListLogger"/> to every category.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    public ListLogger Logger { get; } = new();

    public ILogger CreateLogger(string categoryName) => Logger;

    public void Dispose()
    {
    }
}
