using System.Text;
using Inspection.Config.Options;
using Inspection.Daemon.Pipeline;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Tests;

/// <summary>The sink writes the JSON into a reused buffer: the payloads must still be exactly what the
/// published contract's serializer gives, one result after another, whatever the previous result's length.</summary>
public sealed class ResultSinkJsonTests
{
    [Fact]
    public async Task Payloads_from_the_reused_buffer_are_byte_identical_to_the_contract_serializer()
    {
        using var sink = new ResultSink(new PipelineOptions());
        var regions = Enumerable.Range(0, 40).Select(i => new DefectRegion(i, i * 2, 10 + i, 5, 50 + i)).ToList();
        var results = new[]
        {
            Result("cam1", null, partId: "part-\"7\" ü"),
            Result("cam1", new SegmentationResult(0.25, regions, "mask.png")),
            Result("cam2", new SegmentationResult(0.01, regions[..1], null)),
            Result("cam1", null, partId: null), // shorter than the one before it in the same buffer
            Result("cam1", new SegmentationResult(0, [], null)),
        };

        foreach (var unnumbered in results)
        {
            var (numbered, json, jsonCpu) = await sink.SubmitAsync(unnumbered, CancellationToken.None);

            Assert.Equal(Encoding.UTF8.GetString(ResultJsonContext.Serialize(numbered)), Encoding.UTF8.GetString(json));
            Assert.True(sink.Reader.TryRead(out var queued));
            Assert.Same(json, queued.Entry.Payload);
            Assert.True(jsonCpu >= 0);
        }
    }

    private static InspectionResult Result(string camera, SegmentationResult? segmentation, string? partId = null) => new()
    {
        Id = Guid.CreateVersion7().ToString("N"),
        Device = "dev1",
        Camera = camera,
        FrameSeq = 3,
        PartId = partId,
        CapturedAt = new DateTime(2026, 11, 29, 18, 0, 0, DateTimeKind.Utc),
        Defect = segmentation is not null,
        Score = 0.123456,
        Threshold = 0.5,
        Models = new ResultModels("c1", "s1"),
        Segmentation = segmentation,
        LatencyMs = new StageLatency(0.5, 3, segmentation is null ? 0 : 20, 0.4, 24),
    };
}
