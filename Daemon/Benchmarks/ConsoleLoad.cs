using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Inspection.Daemon.Benchmarks;

/// <summary>What an open console page and a Prometheus scrape ask of the daemon while the bench runs, once a second:
/// <c>/api/cameras</c>, <c>/api/stats</c>, <c>/api/results?limit=24</c>, <c>/api/review</c> and <c>/metrics</c> (the
/// page polls these at 1-5 s; this is the busier end).</summary>
internal sealed class ConsoleLoad(string url) : IDisposable
{
    private static readonly string[] Paths = ["api/cameras", "api/stats", "api/results?limit=24", "api/review", "metrics"];
    private readonly HttpClient _http = new() { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(10) };
    private long _requests;
    private long _failures;
    private long _bytes;
    private double _slowestMs;

    public async Task RunAsync(Task until)
    {
        while (!until.IsCompleted)
        {
            foreach (var path in Paths)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    _bytes += (await _http.GetByteArrayAsync(path).ConfigureAwait(false)).Length;
                    _requests++;
                }
                catch (HttpRequestException)
                {
                    _failures++;
                }

                _slowestMs = Math.Max(_slowestMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            await Task.WhenAny(until, Task.Delay(1000)).ConfigureAwait(false);
        }
    }

    public JsonObject Report() => new()
    {
        ["requests"] = _requests,
        ["failures"] = _failures,
        ["bytes"] = _bytes,
        ["slowest_ms"] = Math.Round(_slowestMs, 1),
    };

    public void Dispose() => _http.Dispose();
}
