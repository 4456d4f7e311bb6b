using System.Diagnostics;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Benchmarks;

/// <summary>The publish stage's CPU per result, which no single thread carries (the publisher, the MQTT client's
/// send and receive loops and the in-process broker share it): after the camera run, a burst of copies of a real result
/// goes through the daemon's sink, publisher and MQTT connection to the broker while nothing else runs, and the
/// process's CPU time over the burst, less the JSON serialization measured on the submitting thread, is divided by the
/// results. A mean, not a per-frame distribution.</summary>
internal sealed class PublishCost
{
    /// <summary>The camera id the burst's results carry (no camera lane has it).</summary>
    public const string Camera = "bench-publish-cost";

    private long _arrived;

    public int Sent { get; private set; }

    public void OnArrived() => Interlocked.Increment(ref _arrived);

    /// <summary>Publishes <paramref name="count"/> copies of <paramref name="template"/>; returns the mean CPU
    /// milliseconds per result, or null when the broker did not receive them all within 30 s.</summary>
    public async Task<double?> MeasureAsync(ResultSink sink, InspectionResult template, int count)
    {
        var result = template with { Camera = Camera };
        var json = 0.0;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < count; i++)
        {
            json += (await sink.SubmitAsync(result, CancellationToken.None).ConfigureAwait(false)).JsonCpuMs;
            Sent++;
        }

        var waited = Stopwatch.StartNew();
        while (Interlocked.Read(ref _arrived) < count)
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                return null;
            }

            await Task.Delay(1).ConfigureAwait(false);
        }

        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds - json;
        return cpu / count;
    }
}
