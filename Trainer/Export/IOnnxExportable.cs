namespace Inspection.Trainer.Export;

/// <summary>
/// A module that can write itself into an ONNX graph: it appends the ops its <c>forward</c> computes (in eval mode) and
/// returns the name of its output. Composite modules call their children's <see cref="ExportOnnx"/>.
/// </summary>
internal interface IOnnxExportable
{
    /// <summary>Appends this module's ops reading <paramref name="input"/>; returns the output's name.</summary>
    string ExportOnnx(OnnxGraph graph, string input);
}
