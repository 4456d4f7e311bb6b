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
    public void Every_repository_path_named_in_the_readme_and_docs_exists()
    {
        var missing = Documents().SelectMany(MissingPaths).ToList();

        Assert.True(missing.Count == 0, "paths that do not exist:\n" + string.Join('\n', missing));
    }

    [Fact]
    public void Path_check_takes_files_folders_types_and_members_and_reports_the_rest()
    {
        using var dir = new TempDirectory("doc-paths");
        var page = dir.Combine("page.md");
        File.WriteAllText(page, "`Daemon/DaemonHost.cs` `Daemon/Hosting/` `Config/Models/ModelManifest` " +
            "`Daemon/Hosting/ThreadPoolHeadroom.Reserve(cameras)` `models/<task>/current` `Daemon/Capture` `Trainer/Export/Gone.cs`\n");

        Assert.Equal(["page.md: Daemon/Capture", "page.md: Trainer/Export/Gone.cs"], MissingPaths(page).Select(m => m[m.IndexOf("page.md", StringComparison.Ordinal)..]));
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

    // A `code span` that starts with a top-level folder of the repository names a file, a folder, or a type or member
    // (`Folder/Type`, `Folder/Type.Member(…)`, resolved to Type.cs); placeholders such as <task> are not paths.
    private static IEnumerable<string> MissingPaths(string document)
    {
        foreach (Match code in CodeSpan().Matches(File.ReadAllText(document)))
        {
            var path = code.Groups[1].Value.Split('(', '#')[0].TrimEnd(':');
            if (!TopLevelFolders.Any(f => path.StartsWith(f, StringComparison.Ordinal)) || path.IndexOfAny(['<', '{', '*', '…']) >= 0)
            {
                continue;
            }

            var full = Path.Combine(Repository.Root, path);
            var type = Path.GetFileName(path).Split('.')[0];
            if (!File.Exists(full) && !Directory.Exists(full) && !File.Exists(Path.Combine(Path.GetDirectoryName(full)!, type + ".cs")))
            {
                yield return $"{Path.GetRelativePath(Repository.Root, document)}: {path}";
            }
        }
    }

    private static readonly string[] TopLevelFolders =
        ["Camera/", "Config/", "Daemon/", "Inference/", "Trainer/", "tests/", "build/", "systemd/", "docs/", "monitoring/"];

    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    private static HashSet<string> Headings(string markdown) =>
        File.ReadLines(markdown).Where(l => l.StartsWith('#'))
            .Select(l => AnchorDrop().Replace(l.TrimStart('#').Trim().ToLowerInvariant(), "").Replace(' ', '-'))
            .ToHashSet(StringComparer.Ordinal);

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedCode();

    [GeneratedRegex(@"`([^`\s]+)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex Scheme();

    [GeneratedRegex(@"[^\p{L}\p{N} _-]")]
    private static partial Regex AnchorDrop();
}
