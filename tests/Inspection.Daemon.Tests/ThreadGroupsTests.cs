using Inspection.Config.Models;
using Inspection.Config.Options;
using Inspection.Daemon.Benchmarks;
using Inspection.Daemon.Inference;
using Inspection.Daemon.Pipeline;
using Inspection.Inference;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>The bench's split of the process's CPU by thread group, read from /proc, and the thread names it relies on.</summary>
public sealed class ThreadGroupsTests
{
    // /proc reports thread CPU in clock ticks of 10 ms, and a thread spends a little CPU outside its measured burn
    // (start, exit): its /proc figure may sit up to about two ticks from the burn's own clock (a full run saw +8.7 ms).
    private const double TickSlack = 20;

    [Fact]
    public void Threads_are_grouped_by_the_names_the_runtime_the_capture_loop_and_onnx_runtime_give_them()
    {
        Assert.Equal(ThreadGroups.OnnxWorkers, ThreadGroups.Of("onnxruntime"));
        Assert.Equal(ThreadGroups.Capture, ThreadGroups.Of("capture-cam-1"));
        Assert.Equal(ThreadGroups.Capture, ThreadGroups.Of("av:h264:df0"));
        Assert.Equal(ThreadGroups.ThreadPool, ThreadGroups.Of(".NET TP Worker"));
        Assert.Equal(ThreadGroups.ThreadPool, ThreadGroups.Of(".NET Sockets"));
        Assert.Equal(ThreadGroups.Runtime, ThreadGroups.Of(".NET BGC"));
        Assert.Equal(ThreadGroups.Runtime, ThreadGroups.Of(".NET Tiered Com"));
        Assert.Equal(ThreadGroups.Bench, ThreadGroups.Of("bench-observer"));
        Assert.Equal(ThreadGroups.Other, ThreadGroups.Of("dotnet"));
    }

    [Fact]
    public void A_named_threads_cpu_lands_in_its_group_an_ended_threads_in_ended_threads_and_the_groups_add_up_to_the_process()
    {
        using var release = new ManualResetEventSlim();
        double capturing = 0, ended = 0;
        var capture = new Thread(() =>
        {
            capturing = Burn(300);
            release.Wait();
        }) { Name = "capture-test" };
        var gone = new Thread(() => ended = Burn(300)) { Name = "bench-gone" };

        var before = ThreadTimes.Read();
        capture.Start();
        gone.Start();
        gone.Join();
        // Join returns when the managed thread is done; the kernel's thread may still be listed (and counted under its
        // name) for a moment after, so wait until /proc no longer shows it.
        Assert.True(SpinWait.SpinUntil(() => ThreadTimes.Read().Threads.Values.All(t => t.Name != "bench-gone"), TimeSpan.FromSeconds(10)), "the ended thread is still listed");
        SpinWait.SpinUntil(() => Volatile.Read(ref capturing) > 0);
        var after = ThreadTimes.Read();
        release.Set();
        capture.Join();

        var groups = ThreadGroups.Split(before, after, inspectingMs: 0);
        Assert.Contains(after.Threads.Values, t => t.Name == "capture-test");
        Assert.InRange(groups[ThreadGroups.Capture], capturing - TickSlack, capturing + TickSlack);
        Assert.True(groups[ThreadGroups.Ended] >= ended - TickSlack, $"ended threads {groups[ThreadGroups.Ended]} ms < the ended thread's {ended} ms");
        Assert.Equal(groups[ThreadGroups.Total], ThreadGroups.Order.Sum(g => groups[g]), 1e-6);
    }

    [Fact]
    public void A_watched_thread_that_ends_inside_the_window_keeps_its_group()
    {
        using var watch = new ThreadWatch(TimeSpan.FromMilliseconds(10));
        double used = 0;
        var reader = new Thread(() =>
        {
            used = Burn(300);
            Thread.Sleep(200); // the watch reads it at least once after the burn
        }) { Name = "capture-gone" };

        var before = watch.Read();
        reader.Start();
        reader.Join();
        var groups = ThreadGroups.Split(before, watch.Read(), inspectingMs: 0);

        Assert.InRange(groups[ThreadGroups.Capture], used - TickSlack, used + TickSlack);
    }

    [Fact]
    public void The_inspecting_calls_cpu_is_taken_out_of_the_thread_pools()
    {
        var before = new ThreadTimes(new Dictionary<int, (string, double)> { [1] = (".NET TP Worker", 100) }, 1000);
        var after = new ThreadTimes(new Dictionary<int, (string, double)> { [1] = (".NET TP Worker", 400), [2] = ("onnxruntime", 50) }, 1400);

        var groups = ThreadGroups.Split(before, after, inspectingMs: 250);

        Assert.Equal(250, groups[ThreadGroups.Inspecting]);
        Assert.Equal(50, groups[ThreadGroups.ThreadPool]);
        Assert.Equal(50, groups[ThreadGroups.OnnxWorkers]);
        Assert.Equal(50, groups[ThreadGroups.Ended]);
        Assert.Equal(400, groups[ThreadGroups.Total]);
    }

    [Fact]
    public void The_daemons_onnx_runtime_workers_are_named_onnxruntime_and_the_loading_thread_keeps_its_name()
    {
        using var temp = new TempDirectory("thread-names");
        TinyOnnx.WriteCurrent(temp.Path, "v1");
        var ownName = File.ReadAllText("/proc/thread-self/comm").Trim();
        var before = ThreadTimes.Read().Threads.Keys.ToHashSet();

        var set = ModelSet.LoadCurrent(new ModelsOptions { Directory = temp.Path, Threads = 2 }, new ProviderChoice(ModelProvider.Cpu, _ => { }));

        var started = ThreadTimes.Read().Threads.Where(t => !before.Contains(t.Key)).Select(t => t.Value.Name).ToList();
        // At least one intra-op worker per session beside the caller (the first session of a process may start one more).
        Assert.True(started.Count(n => n == ThreadName.OnnxWorkers) >= 2, string.Join(", ", started));
        Assert.Equal(ownName, File.ReadAllText("/proc/thread-self/comm").Trim());
        set.Release();
    }

    [Theory]
    [InlineData("in-process", "in-process", "127.0.0.1", 0)]
    [InlineData("mosquitto", "mosquitto", "127.0.0.1", 0)]
    [InlineData("broker.local:1883", "external", "broker.local", 1883)]
    [InlineData("[::1]:1884", "external", "::1", 1884)]
    public void Broker_choices_parse(string value, string kind, string host, int port) =>
        Assert.Equal(new BrokerChoice(kind, host, port), BrokerChoice.Parse(value));

    [Theory]
    [InlineData("mosquito")]
    [InlineData("host:")]
    [InlineData("host:70000")]
    public void A_bad_broker_choice_is_refused_naming_it(string value)
    {
        var ex = Assert.Throws<ArgumentException>(() => BrokerChoice.Parse(value));
        Assert.StartsWith($"--broker '{value}': expected 'in-process', 'mosquitto' or HOST:PORT", ex.Message, StringComparison.Ordinal);
    }

    private static double Burn(double ms)
    {
        var start = ThreadCpu.NowMs();
        var x = 0.0;
        while (ThreadCpu.NowMs() - start < ms)
        {
            x += Math.Sqrt(x + 1);
        }

        return ThreadCpu.NowMs() - start;
    }
}
