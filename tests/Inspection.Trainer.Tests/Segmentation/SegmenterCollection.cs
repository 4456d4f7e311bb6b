namespace Inspection.Trainer.Tests.Segmentation;

/// <summary>The segmenter tests that train or export networks; xunit runs the classes of one collection one after another.</summary>
[CollectionDefinition(Name)]
public sealed class SegmenterCollection
{
    public const string Name = "Segmenter training";
}
