using System.Globalization;
using System.Text.Json;
using Inspection.Trainer.Training;
using Spectre.Console;

namespace Inspection.Trainer.Cli;

/// <summary>Progress as one JSON object per line on standard output (<c>--json</c>).</summary>
public sealed class JsonProgress(TextWriter output) : ITrainingProgress
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private DateTime _lastStep;

    /// <inheritdoc />
    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
        // At most one step line per second keeps the stream readable.
        if (step != steps && DateTime.UtcNow - _lastStep < TimeSpan.FromSeconds(1))
        {
            return;
        }

        _lastStep = DateTime.UtcNow;
        Write(new { @event = "step", epoch, epochs, step, steps, loss });
    }

    /// <inheritdoc />
    public void Epoch(EpochRecord record, int epochs, bool best) => Write(new { @event = "epoch", epochs, best, record });

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
/// A Spectre.Console progress bar over all steps of the run, its description showing epoch, loss and the last
/// validation recall/precision, with elapsed and remaining time; plain lines when the output is not a terminal.
/// </summary>
public sealed class ConsoleProgress : ITrainingProgress
{
    private ProgressTask? _task;
    private ProgressContext? _context;
    private string _validation = "";

    /// <summary>Runs <paramref name="work"/> with the bar shown (when interactive).</summary>
    public T Run<T>(Func<ConsoleProgress, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work(this);
        }

        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                _context = ctx;
                return work(this);
            });
    }

    /// <inheritdoc />
    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
        if (_context is null)
        {
            return;
        }

        _task ??= _context.AddTask("training", maxValue: (double)epochs * steps);
        _task.Value = ((double)(epoch - 1) * steps) + step;
        _task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch}/{epochs} loss {loss:F4}{_validation}"));
    }

    /// <inheritdoc />
    public void Epoch(EpochRecord r, int epochs, bool best)
    {
        _validation = string.Create(CultureInfo.InvariantCulture, $" | val recall {r.ValidationRecall:P1} precision {r.ValidationPrecision:P1}");
        Message(string.Create(CultureInfo.InvariantCulture,
            $"epoch {r.Epoch}/{epochs}: train loss {r.TrainLoss:F4}, val loss {r.ValidationLoss:F4}, val recall@0.5 {r.ValidationRecall:P1}, precision@0.5 {r.ValidationPrecision:P1}, AUROC {r.ValidationAuroc:F4}, AP {r.ValidationAp:F4}, {r.ImagesPerSecond:F0} img/s, {r.Seconds:F0} s{(best ? " (best)" : "")}{(r.SkippedSteps > 0 ? $", {r.SkippedSteps} steps skipped" : "")}"));
    }

    /// <inheritdoc />
    public void Message(string text)
    {
        if (_context is null)
        {
            Console.Out.WriteLine(text);
            Console.Out.Flush();
        }
        else
        {
            AnsiConsole.MarkupLine(Markup.Escape(text));
        }
    }
}
