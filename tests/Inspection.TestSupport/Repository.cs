using Xunit;

namespace Inspection.TestSupport;

/// <summary>Locations in the repository and beside it, found from the test binary's folder.</summary>
public static class Repository
{
    /// <summary>The folder holding Inspection.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>../shared/datasets beside the repository (not committed; may be absent).</summary>
    public static string Datasets => Environment.GetEnvironmentVariable("INSPECTION_DATASETS")
        ?? System.IO.Path.GetFullPath(System.IO.Path.Combine(Root, "..", "shared", "datasets"));

    /// <summary>The example config every test may start from.</summary>
    public static string ExampleConfig => System.IO.Path.Combine(Root, "Config", "inspection.example.json");

    /// <summary>Path of a dataset folder, or null when it is not present on this machine.</summary>
    public static string? Dataset(string name)
    {
        var path = System.IO.Path.Combine(Datasets, name);
        return Directory.Exists(path) ? path : null;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Inspection.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Inspection.sln not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that is skipped, with the reason shown, when a dataset under ../shared/datasets is absent.</summary>
public sealed class DatasetFactAttribute : FactAttribute
{
    public DatasetFactAttribute(string dataset)
    {
        if (Repository.Dataset(dataset) is null)
        {
            Skip = $"dataset '{dataset}' not found under {Repository.Datasets}; this test samples real data from it";
        }
    }
}

/// <summary>A fact that is skipped, with the reason shown, when a program is not on PATH.</summary>
public sealed class RequiresToolFactAttribute : FactAttribute
{
    public RequiresToolFactAttribute(params string[] tools)
    {
        var missing = tools.Where(t => Tools.Find(t) is null).ToList();
        if (missing.Count > 0)
        {
            Skip = $"needs {string.Join(", ", missing)} on PATH (test.sh installs them with apt-get)";
        }
    }
}

/// <summary>A theory that is skipped (visibly, with the reason) when a program it needs is not on PATH.</summary>
public sealed class RequiresToolTheoryAttribute : TheoryAttribute
{
    public RequiresToolTheoryAttribute(params string[] tools)
    {
        var missing = tools.Where(t => Tools.Find(t) is null).ToList();
        if (missing.Count > 0)
        {
            Skip = $"needs {string.Join(", ", missing)} on PATH (test.sh installs them with apt-get)";
        }
    }
}
