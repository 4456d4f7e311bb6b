using Inspection.Camera.Frames;
using Inspection.Camera.Sources;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Pipeline;

/// <summary>Watches one <see cref="CameraPipeline"/> at work (<c>inspectiond bench</c> times the real pipeline's stages
/// with it). Called on the pipeline's inspecting thread, except <see cref="CreateSource"/>, which the capture loop calls.</summary>
internal interface IPipelineProbe
{
    /// <summary>Creates the camera's source from its URI (each reconnect creates a fresh one).</summary>
    IFrameSource CreateSource(string uri);

    /// <summary>A frame left the capture queue and is about to be inspected.</summary>
    void FrameTaken(Frame frame);

    /// <summary>The frame's result, about to be submitted (the broker may have it before <see cref="Queued"/>).</summary>
    void Inspected(InspectionResult result, StageCpu cpu);

    /// <summary>The result was numbered, serialized (taking <paramref name="jsonCpuMs"/> of CPU) and queued.</summary>
    void Queued(InspectionResult numbered, double jsonCpuMs);
}
