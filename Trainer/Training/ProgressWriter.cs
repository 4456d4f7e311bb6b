using System.Globalization;

namespace Inspection.Trainer.Training;

/// <summary>A text writer whose lines become progress messages (for code that logs to a <see cref="TextWriter"/>).</summary>
internal sealed class ProgressWriter(ITrainingProgress progress) : StringWriter(CultureInfo.InvariantCulture)
{
    /// <inheritdoc />
    public override void WriteLine(string? value) => progress.Message(value ?? "");
}
