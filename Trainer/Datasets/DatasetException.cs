namespace Inspection.Trainer.Datasets;

/// <summary>Training data that cannot be used; the message names the file or folder and what is wrong.</summary>
internal sealed class DatasetException(string message) : Exception(message);
