namespace Inspection.Trainer.Training;

/// <summary>Validation figures of one epoch, as a task measures them.</summary>
/// <param name="Loss">Mean validation loss.</param>
/// <param name="Recall">Recall at probability 0.5 (of defective images for the classifier, of defect pixels for the segmenter).</param>
/// <param name="Precision">Precision at probability 0.5, counted the same way.</param>
/// <param name="Metrics">The task's further metrics by display name (classifier: AUROC, AP; segmenter: IoU).</param>
/// <param name="BestBy">The metric of <paramref name="Metrics"/> whose highest value picks the epoch whose weights are kept.</param>
internal sealed record ValidationFigures(double Loss, double Recall, double Precision, IReadOnlyDictionary<string, double> Metrics, string BestBy)
{
    /// <summary>The value of <see cref="BestBy"/>.</summary>
    public double Score => Metrics[BestBy];
}

/// <summary>Figures of one epoch, as in the classifier's <c>history.csv</c> and the <c>epoch</c> progress event.</summary>
internal sealed record EpochRecord(
    int Epoch, double LearningRate, double TrainLoss, double ValidationLoss, double ValidationRecall, double ValidationPrecision,
    IReadOnlyDictionary<string, double> ValidationMetrics, int SkippedSteps, double Seconds, double ImagesPerSecond)
{
    /// <summary>Parameter groups frozen during the epoch (e.g. the encoder while a fine-tuned decoder adapts).</summary>
    public IReadOnlyList<string> Frozen { get; init; } = [];
}

/// <summary>Receives progress; the CLI shows it as a progress bar or JSON lines.</summary>
internal interface ITrainingProgress
{
    /// <summary>A step finished.</summary>
    void Step(int epoch, int epochs, int step, int steps, double loss);

    /// <summary>An epoch finished (validation included).</summary>
    void Epoch(EpochRecord record, int epochs, bool best);

    /// <summary>Something worth a line of text.</summary>
    void Message(string text);
}
