namespace Inspection.Daemon.Benchmarks;

/// <summary>Reads this process's memory and handle figures from /proc (Linux).</summary>
internal static class ProcessProbe
{
    /// <summary>Resident set size now, in bytes (VmRSS).</summary>
    public static long RssBytes() => StatusKilobytes("VmRSS:") * 1024;

    /// <summary>Peak resident set size since start, in bytes (VmHWM).</summary>
    public static long PeakRssBytes() => StatusKilobytes("VmHWM:") * 1024;

    /// <summary>Open file descriptors (sockets, files, pipes, eventfds): a leaked handle shows here.</summary>
    public static int OpenHandles() => Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : -1;

    private static long StatusKilobytes(string key)
    {
        if (!File.Exists("/proc/self/status"))
        {
            return -1;
        }

        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(key.Length).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }
}

/// <summary>Least-squares line through (x, y) points; the slope is the growth rate a leak would show.</summary>
internal static class LeastSquares
{
    public static double Slope(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count < 2)
        {
            return 0;
        }

        var mx = x.Average();
        var my = y.Average();
        double num = 0, den = 0;
        for (var i = 0; i < x.Count; i++)
        {
            num += (x[i] - mx) * (y[i] - my);
            den += (x[i] - mx) * (x[i] - mx);
        }

        return den == 0 ? 0 : num / den;
    }
}
