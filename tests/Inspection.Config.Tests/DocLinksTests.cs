using System.Text.RegularExpressions;
using Inspection.TestSupport;

namespace Inspection.Config.Tests;

/// <summary>The README and docs/ link to each other by relative paths; a renamed or moved file must not leave a dead link.</summary>
public sealed partial class DocLinksTests
{
    [Fact]
    public void Every_relative_link_in_the_readme_and_docs_resolves()
    {
        var broken = Documents().SelectMany(BrokenLinks).ToList();

        Assert.True(broken.Count == 0, "broken links:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void Link_check_reports_a_missing_file_and_a_missing_heading()
    {
        using var dir = new TempDirectory("doc-links");
        File.WriteAllText(dir.Combine("target.md"), "# Target\n\n## Some heading, with `code`\n");
        var page = dir.Combine("page.md");
        File.WriteAllText(page, "[ok](target.md) [ok](target.md#some-heading-with-code) [web](https://example.org/x)\n" +
            "[gone](missing.md) [bad anchor](target.md#nowhere)\n```\n[in code](ignored.md)\n```\n");

        var broken = BrokenLinks(page).ToList();

        Assert.Equal(["page.md: missing.md", "page.md: target.md#nowhere"], broken.Select(b => b[(b.IndexOf("page.md", StringComparison.Ordinal))..]));
    }

    private static IEnumerable<string> Documents() =>
        Directory.EnumerateFiles(Path.Combine(Repository.Root, "docs"), "*.md", SearchOption.AllDirectories)
            .Prepend(Path.Combine(Repository.Root, "README.md"));

    private static IEnumerable<string> BrokenLinks(string document)
    {
        var text = FencedCode().Replace(File.ReadAllText(document), "");
        foreach (Match link in Link().Matches(text))
        {
            var target = link.Groups[1].Value;
            if (Scheme().IsMatch(target))
            {
                continue; // a web address: not checked here (no network at test time)
            }

            var hash = target.IndexOf('#');
            var file = hash < 0 ? target : target[..hash];
            var path = file.Length == 0 ? document : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(document)!, file));
            var ok = File.Exists(path) || Directory.Exists(path);
            if (ok && hash >= 0)
            {
                ok = File.Exists(path) && Headings(path).Contains(target[(hash + 1)..]);
            }

            if (!ok)
            {
                yield return $"{Path.GetRelativePath(Repository.Root, document)}: {target}";
            }
        }
    }

    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    private static HashSet<string> Headings(string markdown) =>
        File.ReadLines(markdown).Where(l => l.StartsWith('#'))
            .Select(l => AnchorDrop().Replace(l.TrimStart('#').Trim().ToLowerInvariant(), "").Replace(' ', '-'))
            .ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedCode();

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex Scheme();

    [GeneratedRegex(@"[^\p{L}\p{N} _-]")]
    private static partial Regex AnchorDrop();
}
