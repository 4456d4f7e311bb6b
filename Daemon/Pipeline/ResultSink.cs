using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Inspection.Config.Options;
using Inspection.Daemon.Hosting;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Pipeline;

/// <summary>Numbers results per camera and queues them, serialized once, for the publisher. Numbering, the write to
/// the <see cref="ResultJournal"/> and queueing happen under one lock, so the queue order is the <c>seq</c> order and
/// the journal's order, and no number is seen before its result is in the journal. The numbers come from a
/// <see cref="SequenceStore"/> when one is given (the daemon), so they go on across restarts; otherwise from 1. The JSON
/// is written by the source-generated serializer into one reused buffer (under the lock); the only allocation is the
/// payload itself, which outlives the call (queue, journal, outbox).</summary>
internal sealed class ResultSink : IStatsSource, IDisposable
{
    private readonly Channel<QueuedResult> _channel;
    private readonly ConcurrentDictionary<string, long> _sequences = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SequenceStore? _store;
    private readonly ResultJournal? _journal;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private Utf8JsonWriter? _writer;

    public ResultSink(PipelineOptions options, SequenceStore? store = null, ResultJournal? journal = null)
    {
        _store = store;
        _journal = journal;
        _channel = Channel.CreateBounded<QueuedResult>(new BoundedChannelOptions(options.ResultQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public ChannelReader<QueuedResult> Reader => _channel.Reader;

    public int Depth => _channel.Reader.Count;

    /// <summary><c>result_queue_depth</c>.</summary>
    public void AddStats(JsonObject stats) => stats["result_queue_depth"] = Depth;

    /// <summary>Every numbered result, as it is queued (history, metrics, review queue). Handlers run on the inspecting
    /// thread and must only hand the result on.</summary>
    public event Action<InspectionResult>? Numbered;

    /// <summary>The active tampering alarm of a camera, stamped on its results (null: none).</summary>
    public Func<string, string?> AlarmOf { get; set; } = _ => null;

    /// <summary>Gives the result its <c>seq</c>, queues it, and returns it with its serialized form and the CPU time
    /// (milliseconds, this thread) serializing took.</summary>
    public async Task<(InspectionResult Result, byte[] Json, double JsonCpuMs)> SubmitAsync(InspectionResult unnumbered, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // A number is issued only once the queue has room (only the gate's holder adds, so the room stays): a
            // cancelled wait leaves no gap.
            if (!await _channel.Writer.WaitToWriteAsync(ct).ConfigureAwait(false))
            {
                throw new ChannelClosedException("the result sink is closed (the daemon is stopping)");
            }

            var seq = _store?.Next(unnumbered.Camera) ?? _sequences.AddOrUpdate(unnumbered.Camera, 1, (_, last) => last + 1);
            var result = unnumbered with { Seq = seq, Alarm = AlarmOf(unnumbered.Camera) };
            var cpuStart = ThreadCpu.NowMs();
            var json = Serialize(result);
            var jsonCpu = ThreadCpu.NowMs() - cpuStart;
            var entry = new OutboxEntry(result.Camera, result.Defect, json);
            var journaled = _journal?.Append(result.Camera, seq, entry) ?? false;
            if (!_channel.Writer.TryWrite(new QueuedResult(entry, journaled)))
            {
                // Completed meanwhile: the result is in the journal, and the next start sends it.
                throw new ChannelClosedException("the result sink is closed (the daemon is stopping)");
            }

            Numbered?.Invoke(result);
            return (result, json, jsonCpu);
        }
        finally
        {
            _gate.Release();
        }
    }

    // Under the gate: one writer and buffer, reset for each result.
    private byte[] Serialize(InspectionResult result)
    {
        _buffer.ResetWrittenCount();
        if (_writer is null)
        {
            _writer = new Utf8JsonWriter(_buffer);
        }
        else
        {
            _writer.Reset(_buffer);
        }

        JsonSerializer.Serialize(_writer, result, ResultJsonContext.Default.InspectionResult);
        return _buffer.WrittenSpan.ToArray();
    }

    /// <summary>The publisher is through with these results (delivered, set aside or stored in the outbox), oldest first.</summary>
    public void Done(IReadOnlyList<QueuedResult> window) => _journal?.Done(window);

    /// <summary>Frees the gate and the JSON writer; call once nothing submits any more (the host disposes the sink after
    /// its services stopped).</summary>
    public void Dispose()
    {
        _gate.Dispose();
        _writer?.Dispose();
    }

    /// <summary>No more results: the publisher drains what is queued and stops; the last numbers are saved.</summary>
    public void Complete()
    {
        if (_channel.Writer.TryComplete())
        {
            _store?.Close();
        }
    }
}
