using Inspection.Config.Loading;
using Inspection.Daemon.Hosting;
using Inspection.TestSupport;
using Xunit.Abstractions;

namespace Inspection.Daemon.Tests.Deployment;

public sealed class UnitFileTests(ITestOutputHelper output)
{
    /// <summary>The most exposure `systemd-analyze security` may give each unit (docs/deployment.md: Security).</summary>
    private const double DaemonExposureLimit = 2.0;
    private const double TrainerExposureLimit = 1.0;

    [RequiresToolFact("systemd-analyze")]
    public void Units_pass_systemd_analyze_verify_without_a_single_warning()
    {
        using var root = new SystemdRoot();
        root.AddUnitsWithStubBinaries();

        var (code, text) = root.Verify(Units.All);

        Assert.True(code == 0 && text.Trim().Length == 0, $"systemd-analyze verify exited {code}:\n{text}");
    }

    [RequiresToolFact("systemd-analyze")]
    public void Verify_as_run_here_does_catch_a_misspelt_directive_and_a_missing_binary()
    {
        using var root = new SystemdRoot();
        root.AddUnitsWithStubBinaries();
        var unit = root.Combine($"{SystemdRoot.UnitFolder}/inspectiond.service");
        File.WriteAllText(unit, File.ReadAllText(unit).Replace("ProtectClock=yes", "ProtectClok=yes", StringComparison.Ordinal));
        File.Delete(root.Combine("opt/inspection/trainer/trainer"));

        var (_, text) = root.Verify(Units.All);

        Assert.Contains("Unknown key 'ProtectClok'", text, StringComparison.Ordinal);
        Assert.Contains("/opt/inspection/trainer/trainer is not executable", text, StringComparison.Ordinal);
    }

    [RequiresToolFact("systemd-analyze")]
    public void Exposure_scores_stay_under_the_stated_limits()
    {
        using var root = new SystemdRoot();
        root.AddUnitsWithStubBinaries();

        var (daemon, daemonTable) = root.Security("inspectiond.service");
        var (trainer, _) = root.Security("inspection-trainer.service");
        output.WriteLine($"systemd-analyze security --offline: inspectiond.service {daemon:0.0}, inspection-trainer.service {trainer:0.0}");
        output.WriteLine(daemonTable);

        Assert.True(daemon <= DaemonExposureLimit, $"inspectiond.service exposure {daemon} > {DaemonExposureLimit}:\n{daemonTable}");
        Assert.True(trainer <= TrainerExposureLimit, $"inspection-trainer.service exposure {trainer} > {TrainerExposureLimit}");
    }

    [Fact]
    public void Daemon_unit_agrees_with_the_daemon_and_its_default_config()
    {
        const string Unit = "inspectiond.service";
        var options = ConfigLoader.Load(Repository.ExampleConfig, new Dictionary<string, string?>());

        Assert.Equal("notify", Units.Value(Unit, "Service", "Type"));
        Assert.Equal("/opt/inspection/inspectiond/inspectiond run --config /etc/inspection/inspection.json", Units.Value(Unit, "Service", "ExecStart"));
        Assert.Equal("on-failure", Units.Value(Unit, "Service", "Restart"));
        Assert.Contains(ConfigException.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture), Units.Value(Unit, "Service", "RestartPreventExitStatus").Split(' '));
        Assert.NotEmpty(Units.Values(Unit, "Unit", "StartLimitIntervalSec"));
        Assert.NotEmpty(Units.Values(Unit, "Unit", "StartLimitBurst"));

        // systemd must wait for the drain (Pipeline:ShutdownTimeout) before it sends SIGKILL.
        var stop = SdNotify.ParseTimeSpan(Units.Value(Unit, "Service", "TimeoutStopSec"));
        Assert.True(stop >= options.Pipeline.ShutdownTimeout + TimeSpan.FromSeconds(10),
            $"TimeoutStopSec={stop} leaves under 10 s beyond Pipeline:ShutdownTimeout={options.Pipeline.ShutdownTimeout}");

        // The watchdog pings at half the interval; the interval is also the stall limit (WatchdogService).
        var watchdog = SdNotify.ParseTimeSpan(Units.Value(Unit, "Service", "WatchdogSec"));
        Assert.InRange(watchdog, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(5));

        // Writable: exactly the folders the daemon writes, as the default config names them (the review queue moves
        // labelled frames into the classifier dataset); models read-only.
        var writable = Units.Value(Unit, "Service", "ReadWritePaths").Split(' ').Order(StringComparer.Ordinal);
        Assert.Equal(new[] { options.Outbox.Directory, options.Snapshots.Directory, options.Review.Directory, options.Review.DatasetDirectory }
            .Order(StringComparer.Ordinal), writable);
        Assert.Equal(options.Models.Directory, Units.Value(Unit, "Service", "ReadOnlyPaths"));

        // Memory bounded: a leak or a request the checks miss cannot take the host down.
        Assert.True(ParseBytes(Units.Value(Unit, "Service", "MemoryHigh")) < ParseBytes(Units.Value(Unit, "Service", "MemoryMax")), "MemoryHigh must lie below MemoryMax");

        // The password reaches the daemon only as a credential whose name the config can use as Mqtt:PasswordFile.
        Assert.Equal("mqtt-password:/etc/inspection/credentials/mqtt-password", Units.Value(Unit, "Service", "LoadCredential"));
        Assert.DoesNotContain(File.ReadAllLines(Units.Source(Unit)), l => l.StartsWith("Environment=", StringComparison.Ordinal) && l.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase));

        // Only cameras and NVIDIA devices.
        Assert.Equal("closed", Units.Value(Unit, "Service", "DevicePolicy"));
        Assert.Equal(["char-video4linux rw", "char-nvidia* rw"], Units.Values(Unit, "Service", "DeviceAllow"));
    }

    [Fact]
    public void Trainer_runs_below_the_daemon_as_its_own_user_and_writes_only_models_and_its_work_folder()
    {
        const string Unit = "inspection-trainer.service";
        var options = ConfigLoader.Load(Repository.ExampleConfig, new Dictionary<string, string?>());

        Assert.Equal("19", Units.Value(Unit, "Service", "Nice"));
        Assert.Equal("batch", Units.Value(Unit, "Service", "CPUSchedulingPolicy"));
        Assert.Equal("idle", Units.Value(Unit, "Service", "IOSchedulingClass"));
        Assert.True(int.Parse(Units.Value(Unit, "Service", "CPUWeight"), System.Globalization.CultureInfo.InvariantCulture) < 100, "CPUWeight must be below the default 100 of inspectiond");
        Assert.Contains(options.Models.Directory, Units.Value(Unit, "Service", "ReadWritePaths").Split(' '));
        Assert.Equal("inspection-trainer.service", Units.Value("inspection-trainer.timer", "Timer", "Unit"));
        Assert.Equal("inspection-trainer.service", Units.Value("inspection-trainer.path", "Path", "Unit"));

        // Its own user, in the daemon's group: the packages it writes are the daemon's to read, not to change.
        Assert.NotEqual(Units.Value(Unit, "Service", "User"), Units.Value("inspectiond.service", "Service", "User"));
        Assert.Equal(Units.Value(Unit, "Service", "Group"), Units.Value("inspectiond.service", "Service", "Group"));
    }

    private static long ParseBytes(string value) =>
        long.Parse(value.TrimEnd('K', 'M', 'G'), System.Globalization.CultureInfo.InvariantCulture) << (value[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, _ => 0 });
}
