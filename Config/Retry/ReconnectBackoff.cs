namespace Inspection.Config.Retry;

/// <summary>The reconnect delay of cameras and the MQTT client: exponential from a minimum to a maximum, with "equal
/// jitter" (half of it fixed, half random), so cameras that failed together, or a fleet reconnecting after a broker
/// restart, spread out instead of arriving together.</summary>
public static class ReconnectBackoff
{
    /// <summary>The wait before reconnect attempt <paramref name="failures"/> (1 after the first failure): min·2^(failures−1),
    /// capped at <paramref name="max"/>, of which a random part up to half is left out.</summary>
    public static TimeSpan Delay(TimeSpan min, TimeSpan max, int failures, Random? random = null)
    {
        var exponential = min.TotalMilliseconds * Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        var capped = Math.Min(exponential, max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds((capped / 2) + ((random ?? Random.Shared).NextDouble() * capped / 2));
    }
}
