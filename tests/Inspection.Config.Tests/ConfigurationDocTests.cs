using System.Collections;
using System.Reflection;
using System.Text.RegularExpressions;
using Inspection.Config.Options;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

/// <summary>docs/configuration.md's table is what operators read to write a config: every key the options classes bind
/// must be in it, and every key in it must bind (ConfigLoader refuses unknown keys, so a documented key that does not
/// exist would make a config fail).</summary>
public sealed partial class ConfigurationDocTests
{
    [Fact]
    public void The_configuration_table_lists_exactly_the_bindable_keys()
    {
        var documented = DocumentedKeys(File.ReadAllLines(Path.Combine(Repository.Root, "docs", "configuration.md")));
        var bindable = BindableKeys(typeof(InspectionOptions), "").ToHashSet(StringComparer.Ordinal);

        Assert.Empty(bindable.Except(documented).Order(StringComparer.Ordinal));
        Assert.Empty(documented.Except(bindable).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Keys_are_read_from_the_first_column_with_braces_expanded()
    {
        var keys = DocumentedKeys([
            "| key | default | meaning |",
            "| --- | --- | --- |",
            "| `Mqtt:Host`, `Mqtt:Port` | 127.0.0.1, 1883 | broker (`Not:AKey`) |",
            "| `Cameras:N:Roi:{X,Y}` | none | crop |",
        ]);

        Assert.Equal(["Cameras:N:Roi:X", "Cameras:N:Roi:Y", "Mqtt:Host", "Mqtt:Port"], keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Bindable_keys_follow_nested_sections_and_lists()
    {
        var keys = BindableKeys(typeof(InspectionOptions), "").ToList();

        Assert.Contains("Mqtt:Tls:CaFile", keys);
        Assert.Contains("Cameras:N:Roi:Width", keys);
        Assert.Contains("Cameras:N:Tampering:MinSimilarity", keys);
        Assert.Contains("Inspect:AllowedFolders:N", keys);
        Assert.Contains("Trainer:Segmenter:WidthMultiplier", keys);
        Assert.DoesNotContain("Mqtt:Tls", keys);
    }

    // Keys as the binder sees them: sections joined by ':', a list's index written N.
    private static IEnumerable<string> BindableKeys(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var key = prefix + property.Name;
            var valueType = property.PropertyType;
            if (valueType != typeof(string) && valueType.IsGenericType && typeof(IEnumerable).IsAssignableFrom(valueType))
            {
                key += ":N";
                valueType = valueType.GetGenericArguments()[0];
            }

            var leaves = IsLeaf(valueType) ? [key] : BindableKeys(valueType, key + ":");
            foreach (var leaf in leaves)
            {
                yield return leaf;
            }
        }
    }

    private static bool IsLeaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);

    // Every `Key` in the first cell of the table's rows, with {A,B} alternatives expanded.
    private static HashSet<string> DocumentedKeys(IEnumerable<string> lines)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in lines.Where(l => l.StartsWith("| `", StringComparison.Ordinal)))
        {
            foreach (Match code in Code().Matches(line.Split('|')[1]))
            {
                var key = code.Groups[1].Value;
                var braces = Alternatives().Match(key);
                foreach (var expanded in braces.Success ? braces.Groups[1].Value.Split(',').Select(a => key[..braces.Index] + a + key[(braces.Index + braces.Length)..]) : [key])
                {
                    keys.Add(expanded);
                }
            }
        }

        return keys;
    }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Code();

    [GeneratedRegex(@"\{([^{}]+)\}")]
    private static partial Regex Alternatives();
}
