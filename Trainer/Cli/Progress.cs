using System.Globalization;
using System.Text.Json;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Cli;

/// <summary>Progress as one JSON object per line on standard output (<c>--json</c>).</summary>
internal sealed class JsonProgress(TextWriter output) : ITrainingProgress
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly EtaClock _eta = new();
    private DateTime _lastStep;

    /// <inheritdoc />
    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
        _eta.Step(epoch, epochs, step, steps);

        // At most one step line per second keeps the stream readable.
        if (step != steps && DateTime.UtcNow - _lastStep < TimeSpan.FromSeconds(1))
        {
            return;
        }

        _lastStep = DateTime.UtcNow;
        Write(new { @event = "step", epoch, epochs, step, steps, loss, elapsed_seconds = _eta.ElapsedSeconds, eta_seconds = _eta.RemainingSeconds });
    }

    /// <inheritdoc />
    public void Epoch(EpochRecord record, int epochs, bool best) =>
        Write(new { @event = "epoch", epochs, best, record, elapsed_seconds = _eta.ElapsedSeconds, eta_seconds = _eta.RemainingSeconds });

    /// <inheritdoc />
    public void Message(string text) => Write(new { @event = "message", text });

    /// <summary>Writes any object as one line.</summary>
    public void Write(object value)
    {
        output.WriteLine(JsonSerializer.Serialize(value, Options));
        output.Flush();
    }
}

/// <summary>
/// A one-line progress bar over all steps of the run (epoch, loss, last validation recall/precision, elapsed and
/// remaining time) when the output is a terminal; plain lines when it is not. It is drawn on the training thread, at
/// most five times a second, and never from a thread of its own: TorchSharp passes temporary Scalars to libtorch by raw
/// handle, and a garbage collection started by another thread's allocation in that moment lets their finalizer free them
/// mid-call ("Expected false to be true" in toFloat, or worse). A renderer thread (as Spectre.Console's live progress
/// has) made that race likely; see docs/decisions/no-gc-training-regions.md.
/// </summary>
internal sealed class ConsoleProgress(TextWriter output, bool interactive) : ITrainingProgress
{
    private const int BarWidth = 24;
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(200);
    private readonly EtaClock _eta = new();
    private TimeSpan? _lastDraw;
    private bool _barShown;
    private string _validation = "";

    /// <summary>Progress on standard output, with the bar when it is a terminal.</summary>
    public ConsoleProgress()
        : this(Console.Out, !Console.IsOutputRedirected)
    {
    }

    /// <summary>Runs <paramref name="work"/> and leaves the cursor on a fresh line.</summary>
    public T Run<T>(Func<ConsoleProgress, T> work)
    {
        try
        {
            return work(this);
        }
        finally
        {
            ClearBar();
        }
    }

    /// <inheritdoc />
    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
        if (!interactive)
        {
            return;
        }

        _eta.Step(epoch, epochs, step, steps);
        var now = TimeSpan.FromSeconds(_eta.ElapsedSeconds);
        var done = ((double)(epoch - 1) * steps) + step;
        var total = (double)epochs * steps;
        if (now - _lastDraw < RedrawEvery && done < total)
        {
            return;
        }

        _lastDraw = now;
        var fraction = total > 0 ? Math.Clamp(done / total, 0, 1) : 0;
        var filled = (int)Math.Round(fraction * BarWidth);
        var left = _eta.RemainingSeconds is { } seconds ? Clock(TimeSpan.FromSeconds(seconds)) : "--:--:--";
        var line = string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('-', BarWidth - filled)}] {fraction,4:P0}  epoch {epoch}/{epochs} loss {loss:F4}{_validation}  {Clock(now)} elapsed, {left} left");

        // Carriage return and "erase to end of line" redraw the bar in place.
        output.Write($"\r{line}\u001b[K");
        output.Flush();
        _barShown = true;
    }

    /// <inheritdoc />
    public void Epoch(EpochRecord r, int epochs, bool best)
    {
        _validation = string.Create(CultureInfo.InvariantCulture, $" | val recall {r.ValidationRecall:P1} precision {r.ValidationPrecision:P1}");
        Message(string.Create(CultureInfo.InvariantCulture,
            $"epoch {r.Epoch}/{epochs}: train loss {r.TrainLoss:F4}, val loss {r.ValidationLoss:F4}, val recall@0.5 {r.ValidationRecall:P1}, precision@0.5 {r.ValidationPrecision:P1}{string.Concat(r.ValidationMetrics.Select(m => $", {m.Key} {m.Value:F4}"))}, {r.ImagesPerSecond:F0} img/s, {r.Seconds:F0} s{(best ? " (best)" : "")}{(r.SkippedSteps > 0 ? $", {r.SkippedSteps} steps skipped" : "")}{(r.Frozen.Count > 0 ? $", frozen: {string.Join(", ", r.Frozen)}" : "")}"));
    }

    /// <inheritdoc />
    public void Message(string text)
    {
        ClearBar();
        output.WriteLine(text);
        output.Flush();
        _lastDraw = null;
    }

    private static string Clock(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}");

    private void ClearBar()
    {
        if (_barShown)
        {
            output.Write("\r\u001b[K");
            output.Flush();
            _barShown = false;
        }
    }
}
