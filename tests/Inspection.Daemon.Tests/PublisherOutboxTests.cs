using System.Diagnostics.CodeAnalysis;
using System.Text;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Publishing;
using Inspection.Daemon.Results;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inspection.Daemon.Tests;

/// <summary>The publisher, outbox and MQTT connection together against a broker that goes away and comes back.</summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = TestOwnership.AsyncLifetime)]
public sealed class PublisherOutboxTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new("daemon-outbox");
    private readonly TestBroker _broker = new();
    private readonly MqttOptions _mqtt;
    private readonly Topics _topics;

    public PublisherOutboxTests()
    {
        _mqtt = new MqttOptions { Port = _broker.Port, Device = "dev1", ReconnectMinDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(400) };
        _topics = new Topics(_mqtt);
    }

    public Task InitializeAsync() => _broker.StartAsync();

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Results_made_while_the_broker_is_away_are_all_delivered_after_it_returns()
    {
        await using var stack = await PublishingStack.StartAsync(_temp, _mqtt, _topics);
        await stack.SubmitAsync("cam1", 1, 5);
        await _broker.WaitForAsync(_topics.Result("cam1"), 5);

        await _broker.StopAsync();
        await stack.SubmitAsync("cam1", 6, 20);
        await WaitUntilAsync(() => stack.Outbox.Count == 15, "15 results in the outbox while the broker is away");
        Assert.Equal(15, stack.Outbox.Peek(100).Count);

        await _broker.StartAsync();
        await stack.SubmitAsync("cam1", 21, 25);
        var delivered = await _broker.WaitForAsync(_topics.Result("cam1"), 25);

        // Every seq arrives (live results may overtake the replayed backlog); a re-send (at-least-once) would repeat an
        // id, which consumers drop.
        var seqs = delivered.DistinctBy(r => r.GetProperty("id").GetString()).Select(r => r.GetProperty("seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), seqs);
        await WaitUntilAsync(() => stack.Outbox.Count == 0, "outbox drained");
        Assert.Equal(0, stack.Outbox.PendingBytes);
        Assert.Equal(25, delivered.Count(r => r.GetProperty("defect").GetBoolean()) * 5);
        Assert.Equal(5, _broker.ReceivedJson(_topics.Defect("cam1")).DistinctBy(r => r.GetProperty("id").GetString()).Count());
    }

    [Fact]
    public async Task Results_left_in_the_outbox_at_shutdown_are_delivered_by_the_next_run()
    {
        await _broker.StopAsync();
        await using (var first = await PublishingStack.StartAsync(_temp, _mqtt, _topics))
        {
            await first.SubmitAsync("cam1", 1, 8);
            await WaitUntilAsync(() => first.Outbox.Count == 8, "8 results in the outbox");
        }

        await _broker.StartAsync();
        await using var second = await PublishingStack.StartAsync(_temp, _mqtt, _topics);
        Assert.Equal(8, second.Outbox.Count);
        await second.SubmitAsync("cam2", 1, 2);
        await _broker.WaitForAsync(_topics.Result("cam2"), 2);
        var cam1 = await _broker.WaitForAsync(_topics.Result("cam1"), 8);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), cam1.Select(r => r.GetProperty("seq").GetInt64()));
        await WaitUntilAsync(() => second.Outbox.Count == 0, "outbox drained");
    }

    [Fact]
    public void A_full_outbox_drops_the_oldest_good_results_first_and_counts_them()
    {
        var options = new OutboxOptions { Directory = _temp.Combine("full"), MaxBytes = 64 * 1024 };
        using var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        var payload = new string('x', 1000);
        for (var i = 0; i < 100; i++)
        {
            outbox.Append(new OutboxEntry("cam1", i % 10 == 0, Encoding.UTF8.GetBytes($"{{\"n\":{i},\"pad\":\"{payload}\"}}")));
        }

        Assert.True(outbox.PendingBytes <= options.MaxBytes);
        Assert.True(outbox.Dropped > 0);
        var kept = new List<string>();
        while (outbox.Peek() is { } next)
        {
            kept.Add(Encoding.UTF8.GetString(next.Entry.Payload)[..12]);
            outbox.Acknowledge(next.End);
        }

        Assert.Equal(100 - outbox.Dropped, kept.Count);

        // All ten defects survived; good ones were dropped oldest first, so the newest result is still there.
        Assert.Equal(10, kept.Count(k => int.Parse(k[5..k.IndexOf(',', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) % 10 == 0));
        Assert.StartsWith("{\"n\":99,", kept[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void Delivered_entries_stay_delivered_after_a_restart()
    {
        var options = new OutboxOptions { Directory = _temp.Combine("restart") };
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            for (var i = 1; i <= 10; i++)
            {
                outbox.Append(new OutboxEntry("cam1", false, Encoding.UTF8.GetBytes($"{{\"n\":{i}}}")));
            }

            for (var i = 0; i < 4; i++)
            {
                outbox.Acknowledge(outbox.Peek()!.Value.End);
            }
        }

        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        Assert.Equal(6, reopened.Count);
        Assert.Equal("{\"n\":5}", Encoding.UTF8.GetString(reopened.Peek()!.Value.Entry.Payload));
    }

    [Fact]
    public async Task A_long_replay_runs_beside_live_results_instead_of_before_them()
    {
        // A backlog from a long outage (10 minutes at 30 fps is 18,000 results). The old publisher replayed all of it,
        // one acknowledgement at a time, before it read the result queue again; live results waited behind it.
        const int backlog = 18_000;
        using (var outbox = new DiskOutbox(new OutboxOptions { Directory = _temp.Combine("outbox") }, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append([.. Enumerable.Range(1, backlog).Select(i => new OutboxEntry("old", false, Encoding.UTF8.GetBytes($"{{\"seq\":{i}}}")))]);
        }

        await using var stack = await PublishingStack.StartAsync(_temp, _mqtt, _topics);
        await _broker.WaitForAsync(_topics.Result("old"), 1);
        await stack.SubmitAsync("cam1", 1, 3);
        await _broker.WaitForAsync(_topics.Result("cam1"), 3);
        await _broker.WaitForAsync(_topics.Result("old"), backlog, seconds: 120);

        var order = _broker.Received.Select(m => m.Topic).ToList();
        Assert.True(order.IndexOf(_topics.Result("cam1")) < order.LastIndexOf(_topics.Result("old")),
            "the live results waited for the whole backlog");
        Assert.Equal(backlog, _broker.ReceivedJson(_topics.Result("old")).Select(r => r.GetProperty("seq").GetInt64()).Distinct().Count());
        await WaitUntilAsync(() => stack.Outbox.Count == 0, "outbox drained");
    }

    [RequiresToolFact("mosquitto")]
    public async Task A_result_the_broker_refuses_for_good_goes_to_the_dead_letter_file_and_the_rest_flows()
    {
        // An ACL that refuses cam2's result topic (MQTT 5 PUBACK "not authorized"). The old publisher retried the refused
        // result forever at the head of the replay, so nothing behind it was delivered again.
        File.WriteAllText(_temp.Combine("acl"), $"topic readwrite #\ntopic deny {_topics.Result("cam2")}\n");
        using var mosquitto = new Mosquitto(_temp, $"persistence false\nacl_file {_temp.Combine("acl")}\n");
        var mqtt = new MqttOptions { Port = mosquitto.Port, Device = "dev1", ReconnectMinDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(400) };

        // A backlog from an earlier outage, refused results at its head, then live results.
        using (var outbox = new DiskOutbox(new OutboxOptions { Directory = _temp.Combine("outbox") }, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append([.. new[] { ("cam2", 101), ("cam2", 102), ("cam2", 103), ("cam1", 101) }
                .Select(r => new OutboxEntry(r.Item1, r.Item2 == 103, Encoding.UTF8.GetBytes($"{{\"id\":\"{r.Item1}-{r.Item2}\",\"seq\":{r.Item2}}}")))]);
        }

        await using var probe = await MqttProbe.ConnectAsync(mosquitto.Port, "inspection/#");
        await using var stack = await PublishingStack.StartAsync(_temp, mqtt, _topics);
        await stack.SubmitAsync("cam2", 1, 2);
        await stack.SubmitAsync("cam1", 1, 2);
        await probe.WaitForAsync(_topics.Result("cam1"), count: 3);
        await WaitUntilAsync(() => stack.Outbox.Count == 0 && stack.Publisher.DeadLettered == 5, "the backlog drained past the refused results");

        var deadLetters = File.ReadAllLines(Path.Combine(_temp.Path, "outbox", DeadLetters.FileName)).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(5, deadLetters.Count);
        Assert.All(deadLetters, d => Assert.Equal(_topics.Result("cam2"), d.GetProperty("topic").GetString()));
        Assert.All(deadLetters, d => Assert.StartsWith("NotAuthorized (0x87)", d.GetProperty("reason").GetString(), StringComparison.Ordinal));
        Assert.Equal([1, 2, 101, 102, 103], deadLetters.Select(d => System.Text.Json.JsonDocument.Parse(d.GetProperty("payload").GetString()!).RootElement.GetProperty("seq").GetInt32()).Order());

        // cam1 (backlog and live) arrived; cam2's defect (seq 103) is on an allowed topic and arrived too.
        Assert.Equal([1, 2, 101], probe.On(_topics.Result("cam1")).Select(m => MqttProbe.Json(m).GetProperty("seq").GetInt32()).Order());
        Assert.Single(probe.On(_topics.Defect("cam2")));
        Assert.Empty(probe.On(_topics.Result("cam2")));
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var i = 0; i < 300 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), $"timed out waiting for: {what}");
    }

    /// <summary>Sink → publisher → outbox/MQTT, as the host wires them.</summary>
    private sealed class PublishingStack : IAsyncDisposable
    {
        private readonly ResultSink _sink = new(new PipelineOptions());
        private readonly MqttConnection _connection;

        private PublishingStack(TempDirectory temp, MqttOptions mqtt, Topics topics)
        {
            Outbox = new DiskOutbox(new OutboxOptions { Directory = temp.Combine("outbox") }, NullLogger<DiskOutbox>.Instance);
            _connection = new MqttConnection(mqtt, topics, TimeProvider.System, NullLogger<MqttConnection>.Instance);
            var options = new OutboxOptions { Directory = temp.Combine("outbox") };
            Publisher = new ResultPublisher(_sink, Outbox, _connection, topics, NullLogger<ResultPublisher>.Instance,
                deadLetters: new DeadLetters(options, NullLogger<DeadLetters>.Instance));
        }

        public DiskOutbox Outbox { get; }

        public ResultPublisher Publisher { get; }

        public static async Task<PublishingStack> StartAsync(TempDirectory temp, MqttOptions mqtt, Topics topics)
        {
            var stack = new PublishingStack(temp, mqtt, topics);
            stack._connection.Start();
            await stack._connection.FirstAttempt;
            await stack.Publisher.StartAsync(CancellationToken.None);
            return stack;
        }

        public async Task SubmitAsync(string camera, int from, int to)
        {
            for (var i = from; i <= to; i++)
            {
                await _sink.SubmitAsync(new InspectionResult
                {
                    Id = Guid.CreateVersion7().ToString("N"),
                    Device = "dev1",
                    Camera = camera,
                    FrameSeq = i,
                    CapturedAt = DateTime.UtcNow,
                    Defect = i % 5 == 0,
                    Score = i % 5 == 0 ? 0.9 : 0.1,
                    Threshold = 0.5,
                    Models = new ResultModels("c1", "s1"),
                    LatencyMs = new StageLatency(1, 1, 0, 0, 2),
                }, CancellationToken.None);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _sink.Complete();
            await Publisher.StopAsync(CancellationToken.None);
            await _connection.StopAsync(CancellationToken.None);
            await _connection.DisposeAsync();
            Publisher.Dispose();
            Outbox.Dispose();
        }
    }
}
