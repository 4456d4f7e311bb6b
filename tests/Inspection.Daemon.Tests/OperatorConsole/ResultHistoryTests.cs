using System.Diagnostics.CodeAnalysis;
using Inspection.Config.Options;
using Inspection.Daemon.History;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Inspection.Daemon.Snapshots;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>The SQLite index across restarts and retention: every result is found again, and no row names a missing file.</summary>
public sealed class ResultHistoryTests
{
    [Fact]
    public async Task Index_survives_restarts_and_follows_snapshot_retention_without_dangling_rows()
    {
        using var temp = new TempDirectory("history");
        var options = new InspectionOptions
        {
            Snapshots = new SnapshotsOptions { Directory = temp.Combine("snapshots"), MaxCount = 3 },
            History = new HistoryOptions { MaxRows = 100 },
        };

        // First run: 5 results with snapshots; retention keeps the newest 3.
        await using (var run = await Run.StartAsync(options))
        {
            for (var i = 0; i < 5; i++)
            {
                await run.SubmitAsync($"r{i}", withSnapshot: true);
            }

            await run.StopAsync();
            Assert.Equal(["r0", "r1", "r2", "r3", "r4"], run.History.Query(new ResultQuery(Limit: 100)).Select(r => r.Id).Order());
            AssertNoDanglingRows(run.History, options);
            Assert.Equal(["r2", "r3", "r4"], run.History.Query(new ResultQuery(Limit: 100)).Where(r => r.Snapshot is not null).Select(r => r.Id).Order());
            Assert.Equal("r4.mask.png", run.History.Find("r4")!.Mask);
        }

        // While the daemon is down a snapshot disappears (r3), another loses its frame but keeps its heat map (r2); the
        // restarted index drops their rows, and new results are added.
        File.Delete(Path.Combine(options.Snapshots.Directory, "r3.jpg"));
        File.Delete(Path.Combine(options.Snapshots.Directory, "r3.mask.png"));
        File.Delete(Path.Combine(options.Snapshots.Directory, "r2.jpg"));
        File.WriteAllBytes(Path.Combine(options.Snapshots.Directory, "r2" + SnapshotWriter.ExplainSuffix), [0xFF, 0xD8]);
        await using (var run = await Run.StartAsync(options))
        {
            await run.SubmitAsync("r5", withSnapshot: false);
            await run.StopAsync();
            AssertNoDanglingRows(run.History, options);
            Assert.Null(run.History.Find("r3")!.Snapshot);
            Assert.Null(run.History.Find("r2")!.Snapshot);
            Assert.Equal(6, run.History.Query(new ResultQuery(Limit: 100)).Count);
            Assert.Equal(["r5", "r4"], run.History.Query(new ResultQuery(Camera: "cam1", Limit: 2)).Select(r => r.Id));
        }

        // Row retention: at most History:MaxRows results, oldest removed first.
        options.History.MaxRows = 100;
        await using (var run = await Run.StartAsync(options))
        {
            for (var i = 0; i < 120; i++)
            {
                await run.SubmitAsync($"m{i:D3}", withSnapshot: false);
            }

            await run.StopAsync();
            var ids = run.History.Query(new ResultQuery(Limit: 1000)).Select(r => r.Id).ToList();
            Assert.Equal(100, ids.Count);
            Assert.Contains("m119", ids);
            Assert.DoesNotContain("r0", ids);
            AssertNoDanglingRows(run.History, options);
        }
    }

    private static void AssertNoDanglingRows(ResultHistory history, InspectionOptions options)
    {
        foreach (var row in history.Query(new ResultQuery(Limit: 1000)))
        {
            foreach (var file in new[] { row.Snapshot, row.Mask, row.Heatmap }.OfType<string>())
            {
                Assert.True(File.Exists(Path.Combine(options.Snapshots.Directory, file)), $"{row.Id} names {file}, which is gone");
            }
        }
    }

    /// <summary>A sink, a snapshot writer and the history, as the daemon wires them.</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = "The snapshot owns the Mats it is made with, and Enqueue takes the snapshot.")]
    private sealed class Run : IAsyncDisposable
    {
        private readonly ResultSink _sink;
        private readonly SnapshotWriter _snapshots;
        private long _time;

        private Run(InspectionOptions options)
        {
            _sink = new ResultSink(options.Pipeline);
            _snapshots = new SnapshotWriter(options.Snapshots, TimeProvider.System, NullLogger<SnapshotWriter>.Instance);
            History = new ResultHistory(options, _sink, _snapshots, TimeProvider.System, NullLogger<ResultHistory>.Instance);
            _time = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds();
        }

        public ResultHistory History { get; }

        public static async Task<Run> StartAsync(InspectionOptions options)
        {
            var run = new Run(options);
            await run.History.StartAsync(CancellationToken.None);
            await run._snapshots.StartAsync(CancellationToken.None);
            return run;
        }

        public async Task SubmitAsync(string id, bool withSnapshot)
        {
            if (withSnapshot)
            {
                _snapshots.Enqueue(new Snapshot(id, new Mat(16, 16, MatType.CV_8UC3, Scalar.All(90)), new Mat(16, 16, MatType.CV_8UC1, Scalar.All(255))));
                await Task.Delay(30); // distinct write times on coarse file-system clocks
            }

            _ = _sink.Reader.TryRead(out _);
            await _sink.SubmitAsync(new InspectionResult
            {
                Id = id, Device = "d", Camera = "cam1", CapturedAt = DateTimeOffset.FromUnixTimeMilliseconds(_time += 10).UtcDateTime,
                Defect = withSnapshot, Score = withSnapshot ? 0.9 : 0.1, Threshold = 0.5, Models = new ResultModels("c1", "s1"),
                LatencyMs = new StageLatency(1, 1, 1, 1, 4),
            }, CancellationToken.None);
            _ = _sink.Reader.TryRead(out _);
        }

        public async Task StopAsync()
        {
            _snapshots.Complete();
            await _snapshots.ExecuteTask!;
            await History.StopAsync(CancellationToken.None);
            History.Flush();
        }

        public ValueTask DisposeAsync()
        {
            _snapshots.Dispose();
            History.Dispose();
            _sink.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
