using System.Reflection;
using System.Text.RegularExpressions;
using Inspection.Config.Models;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

/// <summary>docs/architecture.md's manifest table is the package contract a third-party exporter writes to: it must name
/// every manifest field, and every field of each nested block, as manifest.json spells them.</summary>
public sealed partial class ManifestDocTests
{
    [Fact]
    public void The_manifest_table_names_every_field_of_the_manifest_and_of_its_blocks()
    {
        var rows = File.ReadLines(Path.Combine(Repository.Root, "docs", "architecture.md"))
            .SkipWhile(l => !l.StartsWith("| field | content |", StringComparison.Ordinal)).Skip(2)
            .TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Split('|'))
            .Select(c => (Fields: Names(c[1]), Content: Names(c[2])))
            .ToList();

        var properties = typeof(ModelManifest).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        Assert.Equal(properties.Select(p => Json(p.Name)).Order(StringComparer.Ordinal), rows.SelectMany(r => r.Fields).Order(StringComparer.Ordinal));
        foreach (var block in properties.Where(p => p.PropertyType.Namespace == typeof(ModelManifest).Namespace && !p.PropertyType.IsEnum))
        {
            var type = Nullable.GetUnderlyingType(block.PropertyType) ?? block.PropertyType;
            var documented = rows.Single(r => r.Fields.Contains(Json(block.Name))).Content;
            Assert.All(type.GetProperties(BindingFlags.Public | BindingFlags.Instance), p => Assert.Contains(Json(p.Name), documented));
        }
    }

    private static string Json(string name) => ModelManifest.JsonOptions.PropertyNamingPolicy!.ConvertName(name);

    private static HashSet<string> Names(string cell) => [.. Code().Matches(cell).Select(m => m.Groups[1].Value)];

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Code();
}
