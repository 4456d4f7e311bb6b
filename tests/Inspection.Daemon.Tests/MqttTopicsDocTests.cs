using System.Reflection;
using System.Text.RegularExpressions;
using Inspection.Config.Options;
using Inspection.Daemon.Commands;
using Inspection.Daemon.Publishing;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>docs/mqtt.md is the one description of the topic tree that consumers and line controllers are built against;
/// its table must list exactly the topics the code publishes and subscribes to, with their direction.</summary>
public sealed partial class MqttTopicsDocTests
{
    private const string Prefix = "{prefix}";
    private const string Device = "{device}";
    private const string Camera = "{camera}";

    [Fact]
    public void The_topic_table_in_docs_mqtt_md_lists_every_topic_of_the_code_with_its_direction()
    {
        var documented = TopicTable(File.ReadAllText(Path.Combine(Repository.Root, "docs", "mqtt.md")));

        Assert.Equal(CodeTopics().OrderBy(t => t.Key, StringComparer.Ordinal), documented.OrderBy(t => t.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void The_table_reader_expands_braces_and_reads_the_direction()
    {
        var table = TopicTable("## Topics\n\n| topic | dir |\n| --- | --- |\n| `{prefix}/{device}/cmd/{a,b}` | in |\n| `x/y` | out |\n\n## Next\n| `z` | in |\n");

        Assert.Equal(new Dictionary<string, string> { ["{prefix}/{device}/cmd/a"] = "in", ["{prefix}/{device}/cmd/b"] = "in", ["x/y"] = "out" }, table);
    }

    // Every topic Topics builds under the device's root (string properties, and per-camera methods), the command
    // wildcard expanded to the commands CommandService knows, the default reply tree and the optional shared topic.
    private static Dictionary<string, string> CodeTopics()
    {
        var topics = new Topics(new MqttOptions { TopicPrefix = Prefix, Device = Device });
        var incoming = new HashSet<string>(StringComparer.Ordinal) { topics.Inspect, topics.Commands };
        var found = new List<string>();
        foreach (var member in typeof(Topics).GetMembers(BindingFlags.Public | BindingFlags.Instance))
        {
            var value = member switch
            {
                PropertyInfo { PropertyType: var t } p when t == typeof(string) => p.GetValue(topics) as string,
                MethodInfo { ReturnType: var t } m when t == typeof(string) && m.GetParameters() is [{ ParameterType: var a }] && a == typeof(string) => m.Invoke(topics, [Camera]) as string,
                _ => null,
            };
            if (value is not null && value.StartsWith(topics.Root + "/", StringComparison.Ordinal))
            {
                found.Add(value);
            }
        }

        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var topic in found)
        {
            var direction = incoming.Contains(topic) ? "in" : "out";
            if (topic == topics.Commands)
            {
                Assert.EndsWith("/+", topic);
                foreach (var command in CommandService.Known)
                {
                    table[topic[..^1] + command] = direction;
                }
            }
            else
            {
                table[topic] = direction;
            }
        }

        Assert.Equal([$"{topics.Root}/replies/"], topics.ResponseTopicPrefixes);
        table[$"{topics.Root}/replies/…"] = "out";
        table[$"{nameof(InspectionOptions.Mqtt)}:{nameof(MqttOptions.SharedInspectTopic)}"] = "in";
        return table;
    }

    // The rows of the table under "## Topics": first cell's topic (with {a,b} expanded) → second cell.
    private static Dictionary<string, string> TopicTable(string markdown)
    {
        var section = markdown[markdown.IndexOf("## Topics", StringComparison.Ordinal)..];
        var end = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        var rows = (end < 0 ? section : section[..end]).Split('\n').Where(l => Row().IsMatch(l));
        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var cells = row.Split('|');
            var topic = cells[1].Trim().Trim('`');
            foreach (var expanded in Expand(topic))
            {
                Assert.True(table.TryAdd(expanded, cells[2].Trim()), $"'{expanded}' is listed twice");
            }
        }

        return table;
    }

    // "a/{x,y}/b" → a/x/b, a/y/b; placeholders such as {prefix} (no comma) stay.
    private static IEnumerable<string> Expand(string pattern)
    {
        var match = Alternatives().Match(pattern);
        return match.Success
            ? match.Groups[1].Value.Split(',').SelectMany(a => Expand(pattern[..match.Index] + a + pattern[(match.Index + match.Length)..]))
            : [pattern];
    }

    [GeneratedRegex(@"^\| `[^`]+` \|")]
    private static partial Regex Row();

    [GeneratedRegex(@"\{([^{},]+(?:,[^{},]+)+)\}")]
    private static partial Regex Alternatives();
}
