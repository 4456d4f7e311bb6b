using Inspection.Daemon.Results;
using Inspection.Inference.Runtime;

namespace Inspection.Daemon.Pipeline;

/// <summary>The last <see cref="Capacity"/> stage latencies of one camera, for p50/p99 (nearest rank) in <c>stats</c>.</summary>
internal sealed class LatencyWindow
{
    public const int Capacity = 1024;
    private static readonly string[] StageNames = ["preprocess", "classify", "segment", "postprocess", "total"];
    private readonly double[][] _samples = [.. StageNames.Select(_ => new double[Capacity])];
    private readonly object _gate = new();
    private int _next;
    private int _count;

    public void Add(StageLatency latency)
    {
        lock (_gate)
        {
            _samples[0][_next] = latency.Preprocess;
            _samples[1][_next] = latency.Classify;
            _samples[2][_next] = latency.Segment;
            _samples[3][_next] = latency.Postprocess;
            _samples[4][_next] = latency.Total;
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    /// <summary>Per stage: <c>{ "p50": ms, "p99": ms }</c> over the window (empty before the first frame).</summary>
    public Dictionary<string, Dictionary<string, double>> Percentiles()
    {
        var result = new Dictionary<string, Dictionary<string, double>>();
        lock (_gate)
        {
            for (var s = 0; s < StageNames.Length; s++)
            {
                if (_count == 0)
                {
                    continue;
                }

                var sorted = _samples[s].AsSpan(0, _count).ToArray();
                Array.Sort(sorted);
                result[StageNames[s]] = new Dictionary<string, double>
                {
                    ["p50"] = Math.Round(Percentile.NearestRank(sorted, 0.50), 3),
                    ["p99"] = Math.Round(Percentile.NearestRank(sorted, 0.99), 3),
                };
            }
        }

        return result;
    }
}
