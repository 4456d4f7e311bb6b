using System.Diagnostics.CodeAnalysis;
using System.Text;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;
using Inspection.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inspection.Daemon.Tests;

/// <summary>The outbox and the <c>seq</c> store after crashes at every step of their multi-step updates and on a full disk:
/// at worst a result is repeated, never skipped or decoded under the wrong camera, and every loss is counted.</summary>
public sealed class OutboxCrashTests : IDisposable
{
    private readonly TempDirectory _temp = new("outbox-crash");

    public void Dispose() => _temp.Dispose();

    private static OutboxEntry Entry(int n, string camera = "cam1") => new(camera, n % 3 == 0, Encoding.UTF8.GetBytes($"{{\"n\":{n},\"pad\":\"{new string('x', 200)}\"}}"));

    private static int Number(OutboxEntry entry) => int.Parse(Encoding.UTF8.GetString(entry.Payload)[5..Encoding.UTF8.GetString(entry.Payload).IndexOf(',', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);

    private static List<OutboxEntry> Drain(DiskOutbox outbox)
    {
        var all = new List<OutboxEntry>();
        while (outbox.Peek() is { } next)
        {
            all.Add(next.Entry);
            outbox.Acknowledge(next.End);
        }

        return all;
    }

    [Fact]
    public void A_crash_after_compaction_renamed_the_log_but_before_the_position_was_saved_repeats_results_and_skips_none()
    {
        // The old outbox renamed the compacted log first and saved the new read position after: a crash between the two
        // applied the old position to the new file and skipped (or cut into) results.
        var options = new OutboxOptions { Directory = _temp.Combine("compact"), MaxBytes = 8 * 1024 };
        var position = Path.Combine(options.Directory, DiskOutbox.PositionFile);
        byte[] stalePosition;
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append([.. Enumerable.Range(1, 20).Select(n => Entry(n))]);
            for (var i = 0; i < 10; i++)
            {
                outbox.Acknowledge(outbox.Peek()!.Value.End);
            }
        }

        stalePosition = File.ReadAllBytes(position);
        List<int> expected;
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            // Past the cap: compaction drops the oldest good results and rewrites the log (counted).
            for (var n = 21; n <= 60; n++)
            {
                outbox.Append(Entry(n));
            }

            Assert.True(outbox.Dropped > 0);
            expected = [.. outbox.Peek(1000).Select(p => Number(p.Entry))];
        }

        // The crash: the compacted log is in place, the position on disk is the one from before the rewrite.
        File.WriteAllBytes(position, stalePosition);
        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        Assert.Equal(expected, Drain(reopened).Select(Number));
        Assert.Equal(0, reopened.Corrupt);
    }

    [Fact]
    public void A_position_inside_a_record_skips_to_the_next_whole_record_and_never_decodes_a_fragment()
    {
        // Payloads with tabs, newlines and the record marker: the old line format decoded a fragment with two tabs as a
        // result under a wrong camera.
        var options = new OutboxOptions { Directory = _temp.Combine("midrecord") };
        var tricky = Encoding.UTF8.GetBytes("{\"note\":\"a\tb\tc\nd\"}").Concat(new byte[] { 0xB5, 0x0E, 1, 0, 0, 0 }).ToArray();
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append(new OutboxEntry("cam1", true, tricky));
            outbox.Append(Entry(2, "cam2"));
        }

        var generation = File.ReadAllText(Path.Combine(options.Directory, DiskOutbox.PositionFile)).Split(' ')[0];
        File.WriteAllText(Path.Combine(options.Directory, DiskOutbox.PositionFile), $"{generation} 30");
        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        var entries = Drain(reopened);
        Assert.Equal(2, Number(Assert.Single(entries)));
        Assert.Equal("cam2", entries[0].Camera);
        Assert.Equal(1, reopened.Corrupt);
    }

    [Fact]
    public void A_record_torn_by_a_crash_mid_append_is_cut_and_later_appends_read_back()
    {
        var options = new OutboxOptions { Directory = _temp.Combine("torn") };
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append([Entry(1), Entry(2)]);
        }

        var log = Path.Combine(options.Directory, DiskOutbox.LogFile);
        var whole = File.ReadAllBytes(log);
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            outbox.Append(Entry(3));
        }

        // The crash left the first 40 bytes of record 3.
        File.WriteAllBytes(log, File.ReadAllBytes(log)[..(whole.Length + 40)]);
        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        Assert.Equal(2, reopened.Count);
        Assert.Equal(whole.Length, new FileInfo(log).Length);
        reopened.Append(Entry(4));
        Assert.Equal([1, 2, 4], Drain(reopened).Select(Number));
    }

    [SmallDiskFact]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP017:Prefer using", Justification = "The test closes the outbox before it reopens the same files.")]
    public void A_failed_append_on_a_full_disk_is_rolled_back_and_counted_and_nothing_is_glued_to_it()
    {
        // The old outbox left the part of the line that fit; the next line was glued to it and both were lost.
        using var disk = new SmallDisk(64);
        var options = new OutboxOptions { Directory = disk.Combine("outbox") };
        using var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        Assert.Equal(2, outbox.Append([Entry(1), Entry(2)]));
        var log = Path.Combine(options.Directory, DiskOutbox.LogFile);
        var good = new FileInfo(log).Length;

        var filler = disk.Fill();
        var big = Enumerable.Range(3, 40).Select(n => Entry(n)).ToList();
        Assert.Equal(0, outbox.Append(big));
        Assert.Equal(40, outbox.Lost);
        Assert.Equal(good, new FileInfo(log).Length);

        File.Delete(filler);
        Assert.True(outbox.Append(Entry(43)));
        outbox.Dispose();

        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        Assert.Equal([1, 2, 43], Drain(reopened).Select(Number));
        Assert.Equal(0, reopened.Corrupt);
    }

    [Fact]
    public void Results_left_by_the_line_format_outbox_are_carried_over_once()
    {
        var options = new OutboxOptions { Directory = _temp.Combine("legacy") };
        Directory.CreateDirectory(options.Directory);
        File.WriteAllText(Path.Combine(options.Directory, "outbox.log"), "cam1\t0\t{\"n\":1}\ncam1\t1\t{\"n\":2}\ncam2\t0\t{\"n\":3}\ncam2\t0\t{\"n\":4");
        File.WriteAllText(Path.Combine(options.Directory, "outbox.pos"), "15");
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            Assert.Equal(2, outbox.Count);
        }

        Assert.False(File.Exists(Path.Combine(options.Directory, "outbox.log")));
        using var reopened = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
        var entries = Drain(reopened);
        Assert.Equal(["cam1 True {\"n\":2}", "cam2 False {\"n\":3}"], entries.Select(e => $"{e.Camera} {e.Defect} {Encoding.UTF8.GetString(e.Payload)}"));
    }

    [Fact]
    public async Task Seq_goes_on_without_a_gap_after_a_clean_stop_or_a_kill_and_jumps_ahead_never_back_after_a_power_loss()
    {
        var options = new OutboxOptions { Directory = _temp.Combine("seq"), JournalBytes = 2000 };
        var boot = Guid.NewGuid().ToString("N");
        var recovered = 0;

        // One run of the daemon's parts, the publisher played by the test: it moves the first `done` results to the
        // outbox and marks them done with; the rest stay queued. Not stopping cleanly is a kill: no Complete, nothing
        // saved on the way out but what each step wrote at once.
        async Task<List<long>> RunAsync(int results, int done, bool clean, string bootId)
        {
            using var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance);
            var store = new SequenceStore(options, NullLogger<SequenceStore>.Instance, bootId);
            using var journal = new ResultJournal(options, outbox, store, NullLogger<ResultJournal>.Instance);
            recovered = journal.Recovered;
            using var sink = new ResultSink(new PipelineOptions { ResultQueueCapacity = 1000 }, store, journal);
            var seqs = new List<long>();
            for (var i = 0; i < results; i++)
            {
                seqs.Add((await sink.SubmitAsync(Result("cam1"), CancellationToken.None)).Result.Seq);
            }

            var finished = new List<QueuedResult>();
            while (finished.Count < done && sink.Reader.TryRead(out var queued))
            {
                finished.Add(queued);
            }

            outbox.Append([.. finished.Select(q => q.Entry)]);
            sink.Done(finished);
            if (clean)
            {
                sink.Complete();
            }

            return seqs;
        }

        static List<long> Range(int from, int count) => [.. Enumerable.Range(from, count).Select(i => (long)i)];

        Assert.Equal(Range(1, 10), await RunAsync(10, done: 10, clean: true, boot));
        Assert.Equal(Range(11, 5), await RunAsync(5, done: 5, clean: true, boot));

        // Killed right after the journal was emptied (all 25 done with, past JournalBytes): the next run in the same boot
        // goes on at 41 (the sequence file kept the highest number written). Killed with 41..43 unfinished: the next
        // run goes on at 44 (the highest number in the journal), and 41..43 are in the outbox to be replayed.
        Assert.Equal(Range(16, 25), await RunAsync(25, done: 25, clean: false, boot));
        Assert.Equal(Range(41, 3), await RunAsync(3, done: 0, clean: false, boot));
        Assert.Equal(Range(44, 2), await RunAsync(2, done: 0, clean: false, boot));
        Assert.Equal(3, recovered);
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            Assert.Equal(Range(1, 43), Drain(outbox).Select(e => System.Text.Json.JsonDocument.Parse(e.Payload).RootElement.GetProperty("seq").GetInt64()));
        }

        // Killed again (44, 45 unfinished), then the machine lost power (another boot id): the journal's last writes may
        // never have reached the disk, so the next run goes on after the reserved block; no number is issued twice.
        Assert.Equal(Range(16 + SequenceStore.Block, 3), await RunAsync(3, done: 3, clean: true, Guid.NewGuid().ToString("N")));
    }

    [Fact]
    public async Task The_journal_stays_small_while_results_keep_arriving_and_a_kill_after_its_compaction_recovers_exactly_the_unfinished_ones()
    {
        // At a steady rate the publisher rarely finds the journal empty: one result is always queued. The journal must
        // still be compacted (keeping the unfinished results), or it grows by every result for as long as the daemon runs.
        var options = new OutboxOptions { Directory = _temp.Combine("steady"), JournalBytes = 4000 };
        var boot = Guid.NewGuid().ToString("N");
        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            var store = new SequenceStore(options, NullLogger<SequenceStore>.Instance, boot);
            using var journal = new ResultJournal(options, outbox, store, NullLogger<ResultJournal>.Instance);
            using var sink = new ResultSink(new PipelineOptions { ResultQueueCapacity = 10 }, store, journal);
            await sink.SubmitAsync(Result("cam1"), CancellationToken.None);
            for (var i = 0; i < 300; i++)
            {
                await sink.SubmitAsync(Result("cam1"), CancellationToken.None);
                Assert.True(sink.Reader.TryRead(out var oldest));
                sink.Done([oldest]);
            }

            var journalBytes = new FileInfo(Path.Combine(options.Directory, ResultJournal.LogFile)).Length;
            Assert.True(journalBytes < 2 * options.JournalBytes, $"the journal holds {journalBytes} bytes after 300 results, 1 unfinished");

            // Killed now: result 301 was never done with.
        }

        using (var outbox = new DiskOutbox(options, NullLogger<DiskOutbox>.Instance))
        {
            var store = new SequenceStore(options, NullLogger<SequenceStore>.Instance, boot);
            using var journal = new ResultJournal(options, outbox, store, NullLogger<ResultJournal>.Instance);
            Assert.Equal(1, journal.Recovered);
            Assert.Equal([301L], Drain(outbox).Select(e => System.Text.Json.JsonDocument.Parse(e.Payload).RootElement.GetProperty("seq").GetInt64()));
            using var sink = new ResultSink(new PipelineOptions(), store, journal);
            Assert.Equal(302, (await sink.SubmitAsync(Result("cam1"), CancellationToken.None)).Result.Seq);
        }
    }

    private static InspectionResult Result(string camera) => new()
    {
        Id = Guid.CreateVersion7().ToString("N"),
        Device = "dev1",
        Camera = camera,
        CapturedAt = DateTime.UtcNow,
        Models = new ResultModels("c1", "s1"),
        LatencyMs = new StageLatency(1, 1, 0, 0, 2),
    };
}
