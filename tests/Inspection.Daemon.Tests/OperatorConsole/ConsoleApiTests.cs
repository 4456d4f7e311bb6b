using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>The console's HTTP API, metrics and probes against a daemon fed by ffmpeg-made clips.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleApiTests(ConsoleDaemon fixture)
{
    [Fact]
    public async Task Probes_answer_and_metrics_carry_the_pipeline_counters_in_prometheus_text()
    {
        Assert.Equal("ok\n", await fixture.Http.GetStringAsync("/healthz"));
        var ready = await fixture.WaitForJsonAsync("/readyz", r => r.GetProperty("ready").GetBoolean());
        Assert.True(ready.GetProperty("models_loaded").GetBoolean());
        await fixture.WaitForJsonAsync("/api/results?camera=line&limit=5", r => r.GetArrayLength() == 5);

        using var response = await fixture.Http.GetAsync("/metrics");
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var metrics = await response.Content.ReadAsStringAsync();
        foreach (var expected in new[]
        {
            "inspection_frames_captured_total{camera=\"line\"}", "inspection_frames_dropped_total{camera=\"line\"}",
            "inspection_results_total{camera=\"line\"}", "inspection_stage_latency_seconds_bucket{camera=\"line\",stage=\"classify\"",
            "inspection_outbox_depth ", "inspection_outbox_dropped_total ", "inspection_mqtt_connected 1",
            "inspection_model_info{model=\"classifier\",version=\"v1\"", "inspection_review_waiting ", "inspection_history_write_errors_total 0",
            "inspection_camera_state{camera=\"line\",state=\"connected\"} 1",
        })
        {
            Assert.Contains(expected, metrics, StringComparison.Ordinal);
        }

        var results = Value(metrics, "inspection_results_total{camera=\"line\"}");
        Assert.True(results >= 5, $"results counter {results}");
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TestOwnership.JsonEnumerator)]
    public async Task Results_are_indexed_with_their_snapshot_files_and_filter_by_camera_defect_and_time()
    {
        var defects = await fixture.WaitForJsonAsync("/api/results?camera=line&defect=true&limit=3", r => r.GetArrayLength() == 3 && r.EnumerateArray().All(d => d.GetProperty("snapshot").ValueKind == JsonValueKind.String));
        foreach (var d in defects.EnumerateArray())
        {
            Assert.True(d.GetProperty("defect").GetBoolean());
            Assert.Equal("line", d.GetProperty("camera").GetString());
            Assert.True(d.GetProperty("score").GetDouble() > d.GetProperty("threshold").GetDouble());
            Assert.Equal("v1", d.GetProperty("models").GetProperty("classifier").GetString());
            Assert.True(File.Exists(Path.Combine(fixture.Daemon.Options.Snapshots.Directory, d.GetProperty("snapshot").GetString()!)));
            using var thumbnail = await fixture.Http.GetAsync($"/snapshots/{d.GetProperty("snapshot").GetString()}?width=120");
            Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType!.MediaType);
            Assert.True((await thumbnail.Content.ReadAsByteArrayAsync()).Length < 10_000, "a thumbnail, not a full frame");
        }

        var first = defects[0];
        var one = await fixture.GetJsonAsync($"/api/results/{first.GetProperty("id").GetString()}");
        Assert.Equal(first.GetProperty("seq").GetInt64(), one.GetProperty("seq").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, await Responses.StatusOf(fixture.Http.GetAsync("/api/results/nope")));

        var goods = await fixture.GetJsonAsync("/api/results?defect=false&limit=20");
        Assert.All(goods.EnumerateArray(), g => Assert.False(g.GetProperty("defect").GetBoolean()));
        var at = first.GetProperty("captured_at").GetDateTimeOffset();
        var window = await fixture.GetJsonAsync($"/api/results?since={Uri.EscapeDataString(at.ToString("O"))}&until={Uri.EscapeDataString(at.ToString("O"))}");
        Assert.Contains(window.EnumerateArray(), r => r.GetProperty("id").GetString() == first.GetProperty("id").GetString());
        Assert.All(window.EnumerateArray(), r => Assert.Equal(at, r.GetProperty("captured_at").GetDateTimeOffset()));
        Assert.Empty((await fixture.GetJsonAsync("/api/results?camera=nobody")).EnumerateArray());

        // An inspect request's answer is indexed too, and found by its part id.
        await fixture.Probe.PublishAsync($"{DaemonUnderTest.Root}/inspect", "{\"part_id\":\"P-77\",\"camera\":\"line\"}");
        var answer = await fixture.WaitForJsonAsync("/api/results?part_id=P-77", r => r.GetArrayLength() == 1);
        Assert.Equal("line", answer[0].GetProperty("camera").GetString());
    }

    [Fact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TestOwnership.JsonEnumerator)]
    public async Task Cameras_and_stats_describe_what_the_operator_watches_and_the_live_frame_is_a_jpeg()
    {
        var cameras = await fixture.WaitForJsonAsync("/api/cameras", c => c.EnumerateArray().All(x => x.GetProperty("last").ValueKind == JsonValueKind.Object));
        Assert.Equal(["line", "tamper"], cameras.EnumerateArray().Select(c => c.GetProperty("id").GetString()));
        Assert.Equal("connected", cameras[0].GetProperty("state").GetString());
        using var frame = await fixture.Http.GetAsync("/api/cameras/line/frame.jpg?width=80");
        using var image = OpenCvSharp.Cv2.ImDecode(await frame.Content.ReadAsByteArrayAsync(), OpenCvSharp.ImreadModes.Color);
        Assert.Equal(80, image.Width);
        Assert.Equal(HttpStatusCode.NotFound, await Responses.StatusOf(fixture.Http.GetAsync("/api/cameras/nobody/frame.jpg")));

        var stats = await fixture.GetJsonAsync("/api/stats");
        Assert.True(stats.GetProperty("cameras").GetProperty("line").GetProperty("inspected").GetInt64() > 0);
        Assert.True(stats.GetProperty("last_hour").GetProperty("line").GetProperty("results").GetInt64() > 0);
        Assert.True(stats.TryGetProperty("outbox_depth", out _));
    }

    [Fact]
    public async Task A_post_without_the_csrf_token_is_refused_and_logged()
    {
        using var response = await fixture.Http.PostAsync("/api/cameras/line/flag", null);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task The_grafana_dashboard_queries_only_metrics_the_daemon_exposes()
    {
        var dashboard = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(Inspection.TestSupport.Repository.Root, "monitoring", "grafana-dashboard.json")))!;
        var queried = dashboard["panels"]!.AsArray().SelectMany(p => p!["targets"]!.AsArray())
            .SelectMany(t => System.Text.RegularExpressions.Regex.Matches((string)t!["expr"]!, "inspection_[a-z_]+").Select(m => m.Value))
            .Select(m => m.EndsWith("_bucket", StringComparison.Ordinal) ? m[..^7] : m).Distinct().ToList();
        Assert.True(queried.Count >= 10, string.Join(", ", queried));
        await fixture.WaitForJsonAsync("/api/results?camera=tamper&limit=1", r => r.GetArrayLength() == 1);
        var metrics = await fixture.Http.GetStringAsync("/metrics");
        Assert.All(queried, name => Assert.Contains($"# TYPE {name} ", metrics, StringComparison.Ordinal));
    }


    private static double Value(string metrics, string series) =>
        double.Parse(metrics.Split('\n').First(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
}
