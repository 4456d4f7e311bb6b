using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Inspection.Config.Options;
using Inspection.Daemon.Outbox;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Pipeline;

/// <summary>Numbers results per camera and queues them, serialized once, for the publisher. Numbering and queueing
/// happen under one per-camera lock so the queue order is the <c>seq</c> order. Each camera's JSON is written by the
/// source-generated serializer into that camera's reused buffer; the only allocation is the payload itself, which
/// outlives the call (queue, outbox). The numbers come from a
/// <see cref="SequenceStore"/> when one is given (the daemon), so they go on across restarts; otherwise from 1.</summary>
public sealed class ResultSink
{
    private readonly Channel<OutboxEntry> _channel;
    private readonly ConcurrentDictionary<string, CameraSequence> _sequences = new(StringComparer.Ordinal);
    private readonly SequenceStore? _store;

    public ResultSink(PipelineOptions options, SequenceStore? store = null)
    {
        _store = store;
        _channel = Channel.CreateBounded<OutboxEntry>(new BoundedChannelOptions(options.ResultQueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    public ChannelReader<OutboxEntry> Reader => _channel.Reader;

    public int Depth => _channel.Reader.Count;

    /// <summary>Every numbered result, as it is queued (history, metrics, review queue). Handlers run on the inspecting
    /// thread and must only hand the result on.</summary>
    public event Action<InspectionResult>? Numbered;

    /// <summary>The active tampering alarm of a camera, stamped on its results (null: none).</summary>
    public Func<string, string?> AlarmOf { get; set; } = _ => null;

    /// <summary>Gives the result its <c>seq</c>, queues it, and returns it with its serialized form and the CPU time
    /// (milliseconds, this thread) serializing took.</summary>
    public async Task<(InspectionResult Result, byte[] Json, double JsonCpuMs)> SubmitAsync(InspectionResult unnumbered, CancellationToken ct)
    {
        var sequence = _sequences.GetOrAdd(unnumbered.Camera, _ => new CameraSequence());
        await sequence.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // A number is issued only once the queue has room: a cancelled wait leaves no gap.
            if (!await _channel.Writer.WaitToWriteAsync(ct).ConfigureAwait(false))
            {
                throw new ChannelClosedException("the result sink is closed (the daemon is stopping)");
            }

            var result = unnumbered with { Seq = _store?.Next(unnumbered.Camera) ?? ++sequence.Next, Alarm = AlarmOf(unnumbered.Camera) };
            var cpuStart = ThreadCpu.NowMs();
            var json = sequence.Serialize(result);
            var jsonCpu = ThreadCpu.NowMs() - cpuStart;
            await _channel.Writer.WriteAsync(new OutboxEntry(result.Camera, result.Defect, json), ct).ConfigureAwait(false);
            Numbered?.Invoke(result);
            return (result, json, jsonCpu);
        }
        finally
        {
            sequence.Gate.Release();
        }
    }

    /// <summary>No more results: the publisher drains what is queued and stops; the last numbers are saved.</summary>
    public void Complete()
    {
        if (_channel.Writer.TryComplete())
        {
            _store?.Close();
        }
    }

    private sealed class CameraSequence
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private Utf8JsonWriter? _writer;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public long Next { get; set; }

        // Under Gate: one writer and buffer per camera, reset for each result.
        public byte[] Serialize(InspectionResult result)
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
    }
}
