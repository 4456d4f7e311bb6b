using Inspection.Trainer.Training;

namespace Inspection.Trainer.Tests.Segmentation;

/// <summary>Collects a run's messages as text, for assertions and the test output.</summary>
internal sealed class TextProgress : ITrainingProgress
{
    private readonly System.Text.StringBuilder _text = new();

    public void Step(int epoch, int epochs, int step, int steps, double loss)
    {
    }

    public void Epoch(EpochRecord record, int epochs, bool best) => _text.AppendLine($"epoch {record.Epoch}/{epochs}");

    public void Message(string text) => _text.AppendLine(text);

    public override string ToString() => _text.ToString();
}
