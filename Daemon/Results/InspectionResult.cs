using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inspection.Daemon.Results;

/// <summary>One inspection, as published on <c>{prefix}/{device}/{camera}/result</c> (snake_case JSON).</summary>
internal sealed record InspectionResult
{
    public required string Id { get; init; }

    public required string Device { get; init; }

    public required string Camera { get; init; }

    /// <summary>Per-camera counter, contiguous from 1 for each daemon run, so a consumer can see a gap.</summary>
    public long Seq { get; init; }

    /// <summary>The source's frame number (0 for an image file).</summary>
    public long FrameSeq { get; init; }

    public string? PartId { get; init; }

    /// <summary>The image file an inspect request or <c>inspectiond inspect</c> named; null for camera frames.</summary>
    public string? ImagePath { get; init; }

    /// <summary>UTC; serialized as ISO 8601 with a <c>Z</c>.</summary>
    public required DateTime CapturedAt { get; init; }

    public bool Defect { get; init; }

    public double Score { get; init; }

    public double Threshold { get; init; }

    public required ResultModels Models { get; init; }

    /// <summary>Null when the segmenter was skipped (the classifier was confidently good).</summary>
    public SegmentationResult? Segmentation { get; init; }

    public required StageLatency LatencyMs { get; init; }

    /// <summary>Snapshot file name of the heat-map overlay (the classifier's class activation map over the frame) of a
    /// defect, when its snapshot was saved and the classifier package has that output; else null.</summary>
    public string? Explain { get; init; }

    /// <summary>The camera's active tampering alarm (<c>covered</c>, <c>defocused</c>, <c>moved</c>) while it lasts, else null.</summary>
    public string? Alarm { get; init; }
}

/// <summary>Versions of the models that produced a result.</summary>
internal sealed record ResultModels(string Classifier, string Segmenter);

/// <summary>What the segmenter found: fraction of the frame covered, the regions, and the overlay snapshot if saved.</summary>
internal sealed record SegmentationResult(double Coverage, IReadOnlyList<DefectRegion> Regions, string? Mask);

/// <summary>One connected defect region, in frame pixels.</summary>
internal sealed record DefectRegion(int X, int Y, int Width, int Height, int Area);

/// <summary>Milliseconds spent per stage.</summary>
internal sealed record StageLatency(double Preprocess, double Classify, double Segment, double Postprocess, double Total);

/// <summary>Source-generated JSON for everything the daemon publishes: snake_case, compact, no reflection in hot loops.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InspectionResult))]
internal sealed partial class ResultJsonContext : JsonSerializerContext
{
    public static byte[] Serialize(InspectionResult result) => JsonSerializer.SerializeToUtf8Bytes(result, Default.InspectionResult);

    public static InspectionResult? Deserialize(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize(json, Default.InspectionResult);
}
