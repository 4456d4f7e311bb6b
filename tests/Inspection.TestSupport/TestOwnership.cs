namespace Inspection.TestSupport;

/// <summary>Why IDisposableAnalyzers is silenced in tests where nothing is left to free; used as the justification of
/// those suppressions (docs/architecture.md, "Build guard").</summary>
public static class TestOwnership
{
    /// <summary>JsonElement's EnumerateArray and EnumerateObject.</summary>
    public const string JsonEnumerator = "JsonElement's EnumerateArray/EnumerateObject return struct enumerators over the parsed document; they hold nothing to free.";

    /// <summary>A test class that xunit disposes through IAsyncLifetime.</summary>
    public const string AsyncLifetime = "xunit disposes the test class's resources through IAsyncLifetime.DisposeAsync.";
}
