using System.Globalization;

namespace Inspection.Config.Processes;

/// <summary>The fields this code reads from a process's or a thread's <c>stat</c> file in /proc (proc(5)): its name, its
/// parent, its minor page faults and its CPU time. Linux only.</summary>
public sealed record ProcStat(string Name, int ParentId, long MinorFaults, long UserTicks, long SystemTicks)
{
    /// <summary>/proc counts CPU time in ticks of USER_HZ, which Linux fixes at 100 for user space.</summary>
    public const double MsPerTick = 10;

    /// <summary>User plus system CPU time in milliseconds (10 ms steps).</summary>
    public double CpuMs => (UserTicks + SystemTicks) * MsPerTick;

    /// <summary>Parses a stat line: "pid (name) state ppid … minflt … utime stime …". The name may hold spaces and
    /// parentheses, so it ends at the last ')'.</summary>
    public static ProcStat Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var open = line.IndexOf('(', StringComparison.Ordinal);
        var close = line.LastIndexOf(')');
        var fields = open >= 0 && close > open && close + 2 < line.Length ? line[(close + 2)..].Split(' ') : [];
        if (fields.Length < 13)
        {
            throw new FormatException($"not a /proc stat line: '{line}'");
        }

        // fields[0] is stat(5)'s field 3 (state); ppid is field 4, minflt 10, utime 14, stime 15.
        return new ProcStat(
            line[(open + 1)..close],
            int.Parse(fields[1], CultureInfo.InvariantCulture),
            long.Parse(fields[7], CultureInfo.InvariantCulture),
            long.Parse(fields[11], CultureInfo.InvariantCulture),
            long.Parse(fields[12], CultureInfo.InvariantCulture));
    }

    /// <summary>Reads the <c>stat</c> file in a process's or thread's /proc folder (<c>/proc/self</c>,
    /// <c>/proc/&lt;pid&gt;</c>, <c>/proc/self/task/&lt;tid&gt;</c>); null when there is none: the process or thread
    /// has ended (it may between listing and reading), or this is not Linux.</summary>
    public static ProcStat? TryRead(string folder)
    {
        try
        {
            return Parse(File.ReadAllText(Path.Combine(folder, "stat")));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
