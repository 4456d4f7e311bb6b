using Inspection.TestSupport;
using Xunit.Abstractions;

namespace Inspection.Daemon.Tests.Deployment;

/// <summary>systemd/install.sh into a temporary root (--prefix) and back out. Publishes the binaries this test run
/// was built from (--no-build), so it needs the whole solution built first, as test.sh does.</summary>
public sealed class InstallScriptTests(ITestOutputHelper output)
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly string Script = Path.Combine(Repository.Root, "systemd", "install.sh");

    // Written by systemd-sysusers and userdel beside the files they edit, on a real system as well.
    private static readonly HashSet<string> UserToolBackups = ["etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/.pwd.lock"];

    [RequiresRootFact("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles", "userdel")]
    public void Installs_into_a_root_idempotently_and_uninstall_purge_leaves_nothing()
    {
        using var root = new SystemdRoot();
        var before = root.Snapshot();

        var first = Install(root);
        Assert.Contains("config ok", first, StringComparison.Ordinal);

        // The user and group, the folders with owners and modes from the tmpfiles.d file.
        var passwd = File.ReadAllLines(root.Combine("etc/passwd")).Single(l => l.StartsWith("inspection:", StringComparison.Ordinal)).Split(':');
        var uid = int.Parse(passwd[2], System.Globalization.CultureInfo.InvariantCulture);
        var gid = int.Parse(passwd[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("/usr/sbin/nologin", passwd[6]);
        var trainer = File.ReadAllLines(root.Combine("etc/passwd")).Single(l => l.StartsWith("inspection-trainer:", StringComparison.Ordinal)).Split(':');
        var trainerUid = int.Parse(trainer[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(uid, trainerUid);
        Assert.Equal(gid, int.Parse(trainer[3], System.Globalization.CultureInfo.InvariantCulture));
        AssertOwned(root.Combine("var/lib/inspection/models"), trainerUid, gid, "750");
        AssertOwned(root.Combine("var/lib/inspection/trainer"), trainerUid, gid, "750");
        AssertOwned(root.Combine("var/lib/inspection/outbox"), uid, gid, "700");
        AssertOwned(root.Combine("var/lib/inspection/snapshots"), uid, gid, "750");
        AssertOwned(root.Combine("var/lib/inspection/data"), uid, gid, "2770");
        AssertOwned(root.Combine("etc/inspection/inspection.json"), 0, gid, "640");
        AssertOwned(root.Combine("etc/inspection/credentials/mqtt-password"), 0, 0, "600");
        Assert.Equal(File.ReadAllText(Repository.ExampleConfig), File.ReadAllText(root.Combine("etc/inspection/inspection.json")));

        // Binaries, operator links, units with the runtime drop-in; the installed units verify and score as stated.
        Assert.True(File.Exists(root.Combine("opt/inspection/inspectiond/inspectiond")));
        Assert.True(File.Exists(root.Combine("opt/inspection/trainer/trainer")));
        Assert.Equal("/opt/inspection/inspectiond/inspectiond", new FileInfo(root.Combine("usr/local/bin/inspectiond")).LinkTarget);
        Assert.Contains("Environment=DOTNET_ROOT=", File.ReadAllText(root.Combine($"{SystemdRoot.UnitFolder}/inspectiond.service.d/10-dotnet.conf")), StringComparison.Ordinal);
        var (code, verify) = root.Verify(Units.All);
        Assert.True(code == 0 && verify.Trim().Length == 0, $"verify of the installed units exited {code}:\n{verify}");
        output.WriteLine($"installed inspectiond.service exposure: {root.Security("inspectiond.service").Exposure:0.0}");

        // Idempotent: a second run (an upgrade) keeps the operator's config and changes nothing else of theirs.
        File.AppendAllText(root.Combine("etc/inspection/inspection.json"), "// edited by the operator\n");
        File.WriteAllText(root.Combine("var/lib/inspection/models/keep.txt"), "a model");
        var second = Install(root);
        Assert.Contains("keeping the existing", second, StringComparison.Ordinal);
        Assert.EndsWith("// edited by the operator\n", File.ReadAllText(root.Combine("etc/inspection/inspection.json")), StringComparison.Ordinal);
        Assert.Single(File.ReadAllLines(root.Combine("etc/passwd")), l => l.StartsWith("inspection:", StringComparison.Ordinal));

        // --uninstall keeps config, data and the user; --purge removes them too.
        RunScript("--prefix", root.Path, "--uninstall");
        Assert.False(Directory.Exists(root.Combine("opt/inspection")));
        Assert.False(File.Exists(root.Combine($"{SystemdRoot.UnitFolder}/inspectiond.service")));
        Assert.True(File.Exists(root.Combine("var/lib/inspection/models/keep.txt")));
        Assert.True(File.Exists(root.Combine("etc/inspection/inspection.json")));
        RunScript("--prefix", root.Path, "--uninstall", "--purge");

        var after = root.Snapshot();
        foreach (var backup in UserToolBackups)
        {
            after.Remove(backup);
        }

        var left = after.Where(e => !before.TryGetValue(e.Key, out var was) || was != e.Value).Select(e => e.Key).ToList();
        var lost = before.Keys.Where(k => !after.ContainsKey(k)).ToList();
        Assert.True(left.Count == 0 && lost.Count == 0, $"left behind: {string.Join(", ", left)}; lost: {string.Join(", ", lost)}");
    }

    [RequiresToolFact("systemd-sysusers", "systemd-tmpfiles")]
    public void Dry_run_prints_the_commands_and_changes_nothing()
    {
        using var root = new SystemdRoot();
        var before = root.Snapshot();

        var install = RunScript("--prefix", root.Path, "--dry-run", "-c", Configuration, "--no-build");
        var uninstall = RunScript("--prefix", root.Path, "--dry-run", "--uninstall", "--purge");

        Assert.Contains($"+ dotnet publish {Repository.Root}/Daemon/Inspection.Daemon.csproj", install, StringComparison.Ordinal);
        Assert.Contains($"+ systemd-sysusers --root={root.Path}", install, StringComparison.Ordinal);
        Assert.Contains($"+ systemd-tmpfiles --create --root={root.Path}", install, StringComparison.Ordinal);
        Assert.DoesNotContain("systemctl", install, StringComparison.Ordinal);
        Assert.Contains($"+ rm -rf {root.Path}/opt/inspection", uninstall, StringComparison.Ordinal);
        Assert.Equal(before, root.Snapshot());
    }

    [Fact]
    public void Refuses_unknown_arguments_and_purge_without_uninstall()
    {
        var (unknown, text) = Process.Run("bash", [Script, "--prefx", "/tmp/x"]);
        Assert.Equal(2, unknown);
        Assert.Contains("unknown argument '--prefx'", text, StringComparison.Ordinal);

        var (purge, purgeText) = Process.Run("bash", [Script, "--purge", "--dry-run"]);
        Assert.Equal(2, purge);
        Assert.Contains("--purge goes with --uninstall", purgeText, StringComparison.Ordinal);
    }

    private string Install(SystemdRoot root)
    {
        var trainerBuild = Path.Combine(Repository.Root, "Trainer", "bin", Configuration);
        Assert.True(Directory.Exists(trainerBuild), $"{trainerBuild} is missing: build the whole solution first (test.sh does)");
        return RunScript("--prefix", root.Path, "-c", Configuration, "--no-build");
    }

    private string RunScript(params string[] args)
    {
        var (code, text) = Process.Run("bash", [Script, .. args]);
        output.WriteLine($"$ install.sh {string.Join(' ', args)}\n{text}");
        Assert.True(code == 0, $"install.sh {string.Join(' ', args)} exited {code}:\n{text}");
        return text;
    }

    private static void AssertOwned(string path, int uid, int gid, string mode)
    {
        var (code, stat) = Process.Run("stat", ["-c", "%u %g %a", path]);
        Assert.Equal(0, code);
        Assert.Equal($"{uid} {gid} {mode}", stat.Trim());
    }
}

/// <summary>A fact that needs root (it chowns files to a user it creates) and some programs; skipped with the reason otherwise.</summary>
public sealed class RequiresRootFactAttribute : FactAttribute
{
    public RequiresRootFactAttribute(params string[] tools)
    {
        var missing = tools.Where(t => Tools.Find(t) is null).ToList();
        if (!IsRoot())
        {
            Skip = "needs root: install.sh chowns the folders it creates to the inspection user";
        }
        else if (missing.Count > 0)
        {
            Skip = $"needs {string.Join(", ", missing)} on PATH (test.sh installs them with apt-get)";
        }
    }

    // The effective uid, from /proc/self/status ("Uid: real effective saved fs").
    private static bool IsRoot() =>
        File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries)[2] == "0";
}
