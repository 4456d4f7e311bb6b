using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Inspection.Daemon.Benchmarks;

/// <summary>Samples resident memory, open handles and the live managed heap during a soak, and fits a least-squares line
/// through the samples after the first fifth of the run (start-up and warm-up: arenas, pools and JIT settle there).
/// A leak shows as a slope that does not go away however long the run.</summary>
internal sealed class SoakSampler(TimeSpan duration)
{
    private const double SettleFraction = 0.2;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly List<(double Minutes, long Rss, int Handles, long Heap, long Frames)> _samples = [];

    /// <summary>About 120 samples over the run, one every 1 to 10 seconds.</summary>
    public TimeSpan Interval { get; } = TimeSpan.FromSeconds(Math.Clamp(duration.TotalSeconds / 120, 1, 10));

    public bool Done => Stopwatch.GetElapsedTime(_start) >= duration;

    public string Last => _samples.Count == 0 ? "" : Describe(_samples[^1]);

    public void Sample(long frames)
    {
        // Live objects after a full collection: the heap's size between collections rises and falls with garbage that
        // is simply not collected yet, which a slope would mistake for a leak.
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        _samples.Add((Stopwatch.GetElapsedTime(_start).TotalMinutes, ProcessProbe.RssBytes(), ProcessProbe.OpenHandles(), heap, frames));
    }

    public JsonObject Report()
    {
        var settled = _samples.Where(s => s.Minutes >= duration.TotalMinutes * SettleFraction).ToList();
        var minutes = settled.Select(s => s.Minutes).ToList();
        double Slope(Func<(double Minutes, long Rss, int Handles, long Heap, long Frames), double> y) =>
            LeastSquares.Slope(minutes, settled.Select(y).ToList());
        var rssSlope = Slope(s => s.Rss);
        var handleSlope = Slope(s => s.Handles);
        var heapSlope = Slope(s => s.Heap);
        var meanRss = settled.Count == 0 ? 0 : settled.Average(s => s.Rss);
        var span = minutes.Count < 2 ? 0 : minutes[^1] - minutes[0];

        // "Flat": over the fitted span the line moves RSS by under 5 % and handles by under one.
        var flat = settled.Count >= 2 && Math.Abs(rssSlope * span) < 0.05 * meanRss && Math.Abs(handleSlope * span) < 1;
        return new JsonObject
        {
            ["minutes"] = Math.Round(Stopwatch.GetElapsedTime(_start).TotalMinutes, 2),
            ["samples"] = _samples.Count,
            ["fitted_from_minute"] = Math.Round(duration.TotalMinutes * SettleFraction, 2),
            ["frames"] = _samples.Count == 0 ? 0 : _samples[^1].Frames,
            ["rss_slope_bytes_per_min"] = Math.Round(rssSlope),
            ["handles_slope_per_min"] = Math.Round(handleSlope, 4),
            ["gc_live_heap_slope_bytes_per_min"] = Math.Round(heapSlope),
            ["rss_first_bytes"] = settled.Count == 0 ? null : settled[0].Rss,
            ["rss_last_bytes"] = settled.Count == 0 ? null : settled[^1].Rss,
            ["handles_first"] = settled.Count == 0 ? null : settled[0].Handles,
            ["handles_last"] = settled.Count == 0 ? null : settled[^1].Handles,
            ["verdict"] = flat ? "flat" : "growing",
            ["series"] = new JsonArray([.. _samples.Select(s => (JsonNode?)new JsonArray(Math.Round(s.Minutes, 3), s.Rss, s.Handles, s.Heap, s.Frames))]),
        };
    }

    private static string Describe((double Minutes, long Rss, int Handles, long Heap, long Frames) s) => string.Create(
        CultureInfo.InvariantCulture, $"{s.Minutes:F1} min, RSS {s.Rss / 1048576.0:F1} MiB, {s.Handles} handles, live GC heap {s.Heap / 1048576.0:F1} MiB");
}
