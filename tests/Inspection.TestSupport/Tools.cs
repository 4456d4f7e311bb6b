using System.Diagnostics;

namespace Inspection.TestSupport;

/// <summary>Runs external programs (ffmpeg, mosquitto, openssl, …) the tests use as real counterparts.</summary>
public static class Tools
{
    /// <summary>Full path of a program on PATH (or in /usr/sbin), or null.</summary>
    public static string? Find(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/sbin");
        return dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }

    /// <summary>Runs a program to completion; throws with its output when it fails.</summary>
    public static string Run(string program, params string[] args) => RunIn(null, TimeSpan.FromMinutes(2), program, args);

    /// <summary>Runs a program in a folder with a time limit; throws with its output when it fails or times out.</summary>
    public static string RunIn(string? workingDirectory, TimeSpan timeout, string program, params string[] args)
    {
        using var process = Start(program, args, workingDirectory);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {process.ExitCode}:\n{stderr.Result}\n{stdout.Result}");
        }

        return stdout.Result + stderr.Result;
    }

    /// <summary>Starts a program with redirected output; the caller owns the process.</summary>
    public static Process Start(string program, IEnumerable<string> args, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(Find(program) ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
    }

    /// <summary>Makes a test video with ffmpeg's testsrc: <paramref name="codecArgs"/> e.g. "-c:v libx264 -pix_fmt yuv420p".</summary>
    public static string MakeVideo(string path, int width, int height, int frames, int fps = 25, string codecArgs = "-c:v libx264 -pix_fmt yuv420p")
    {
        var args = new List<string> { "-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc=size={width}x{height}:rate={fps}", "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        args.AddRange(codecArgs.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        args.Add(path);
        Run("ffmpeg", [.. args]);
        return path;
    }

    /// <summary>Waits until something accepts connections on <paramref name="address"/>:<paramref name="port"/> (15 s at
    /// most); fails at once, with its error output, if <paramref name="server"/> exits meanwhile.</summary>
    public static void WaitForPort(int port, string address = "127.0.0.1", Process? server = null)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (server is { HasExited: true })
            {
                throw new InvalidOperationException($"{server.StartInfo.FileName} exited {server.ExitCode}: {server.StandardError.ReadToEnd()}");
            }

            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                client.Connect(System.Net.IPAddress.Parse(address), port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                Thread.Sleep(50);
            }
        }

        throw new TimeoutException($"nothing listens on {address}:{port}");
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
