using System.Security.Cryptography;
using Inspection.TestSupport;

// These tests drive Linux tools (systemd, unix sockets, file modes); the project runs nowhere else.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Inspection.Daemon.Tests.Deployment;

/// <summary>
/// A throw-away file-system root for systemd's offline tools (no systemd runs as PID 1 here): a Debian-like skeleton
/// with the host's own system units (verify needs sysinit.target and friends) and a passwd/group with only root.
/// </summary>
internal sealed class SystemdRoot : IDisposable
{
    private readonly TempDirectory _dir = new("inspection-root");

    public SystemdRoot()
    {
        foreach (var folder in new[] { "etc", "opt", "usr/local/bin", "usr/local/lib", "var/lib", "usr/lib/systemd/system" })
        {
            Directory.CreateDirectory(Combine(folder));
        }

        foreach (var unit in Directory.EnumerateFiles("/usr/lib/systemd/system", "*.target"))
        {
            File.Copy(unit, Combine("usr/lib/systemd/system/" + System.IO.Path.GetFileName(unit)));
        }

        foreach (var (file, line, mode) in new[]
                 {
                     ("passwd", "root:x:0:0:root:/root:/bin/bash", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead),
                     ("group", "root:x:0:", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead),
                     ("shadow", "root:*:20000:0:99999:7:::", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead),
                     ("gshadow", "root:*::", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead),
                 })
        {
            File.WriteAllText(Combine("etc/" + file), line + "\n");
            File.SetUnixFileMode(Combine("etc/" + file), mode);
        }
    }

    public string Path => _dir.Path;

    public string Combine(string relative) => System.IO.Path.Combine(_dir.Path, relative);

    /// <summary>Where install.sh puts units, relative to the root.</summary>
    public const string UnitFolder = "usr/local/lib/systemd/system";

    /// <summary>Copies the repository's units into the root with stand-in executables for ExecStart=.</summary>
    public void AddUnitsWithStubBinaries()
    {
        Directory.CreateDirectory(Combine(UnitFolder));
        foreach (var unit in Units.All)
        {
            File.Copy(Units.Source(unit), Combine($"{UnitFolder}/{unit}"));
        }

        foreach (var binary in new[] { "opt/inspection/inspectiond/inspectiond", "opt/inspection/trainer/trainer" })
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Combine(binary))!);
            File.WriteAllText(Combine(binary), "#!/bin/sh\n");
            File.SetUnixFileMode(Combine(binary), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary><c>systemd-analyze verify</c> inside the root; returns its exit code and everything it printed.</summary>
    public (int ExitCode, string Output) Verify(params string[] units) =>
        Process.Run("systemd-analyze", ["verify", "--man=no", "--generators=no", $"--root={Path}", .. units]);

    /// <summary><c>systemd-analyze security --offline</c> of one unit inside the root: its overall exposure and the table.</summary>
    public (double Exposure, string Table) Security(string unit)
    {
        var (code, output) = Process.Run("systemd-analyze", ["security", "--offline=true", "--no-pager", $"--root={Path}", unit]);
        Assert.True(code == 0, output);
        var marker = $"Overall exposure level for {unit}: ";
        var line = output.Split('\n').Single(l => l.Contains(marker, StringComparison.Ordinal));
        var value = line[(line.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..].Split(' ')[0];
        return (double.Parse(value, System.Globalization.CultureInfo.InvariantCulture), output);
    }

    /// <summary>Every path under the root with a content hash for files and link targets (directories as "dir").</summary>
    public SortedDictionary<string, string> Snapshot()
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in new DirectoryInfo(Path).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            var relative = System.IO.Path.GetRelativePath(Path, entry.FullName);
            result[relative] = entry.LinkTarget is { } target ? $"link {target}"
                : entry is DirectoryInfo ? "dir"
                : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry.FullName)));
        }

        return result;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>The unit files in the repository's systemd/ folder.</summary>
internal static class Units
{
    public static readonly string[] All = ["inspectiond.service", "inspection-trainer.service", "inspection-trainer.timer", "inspection-trainer.path"];

    public static string Source(string name) => Path.Combine(Repository.Root, "systemd", name);

    /// <summary>The values of <paramref name="key"/> in <paramref name="section"/>, in order (a key may repeat).</summary>
    public static List<string> Values(string unit, string section, string key)
    {
        var values = new List<string>();
        var current = "";
        foreach (var raw in File.ReadAllLines(Source(unit)))
        {
            var line = raw.Trim();
            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                current = line[1..^1];
            }
            else if (current == section && line.StartsWith(key + "=", StringComparison.Ordinal))
            {
                values.Add(line[(key.Length + 1)..]);
            }
        }

        return values;
    }

    public static string Value(string unit, string section, string key) => Assert.Single(Values(unit, section, key));
}

/// <summary>Runs a program and returns its exit code with stdout and stderr together (for tools whose warnings matter).</summary>
internal static class Process
{
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Tools.Find(program) ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within 5 minutes");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>An <c>inspectiond run</c> process with the environment systemd would give it (NOTIFY_SOCKET, CREDENTIALS_DIRECTORY, …).</summary>
internal static class DaemonProcess
{
    private static readonly string Daemon = System.IO.Path.Combine(AppContext.BaseDirectory, "inspectiond.dll");

    /// <summary>Starts <c>inspectiond run</c> (this build, or the <c>inspectiond.dll</c> given) with extra environment.</summary>
    public static System.Diagnostics.Process Start(string config, IReadOnlyDictionary<string, string> environment, string? daemon = null)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { daemon ?? Daemon, "run", "--config", config })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        return System.Diagnostics.Process.Start(info)!;
    }

    /// <summary>SIGTERM, as systemctl stop sends it.</summary>
    public static void Terminate(System.Diagnostics.Process process) =>
        Tools.Run("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
