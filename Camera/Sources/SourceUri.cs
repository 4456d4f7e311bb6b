using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Inspection.Config.Loading;

namespace Inspection.Camera.Sources;

/// <summary>
/// A parsed source URI: scheme, path and query options. Options are read by name; any option the source does not
/// know is an error naming it, so a typo like <c>?lop=true</c> is caught at open instead of silently ignored.
/// </summary>
[SuppressMessage("Microsoft.Design", "CA1720:Identifier contains type name", Justification = "The typed option readers (Bool, Int, Double, String) are named for the type they parse.")]
public sealed class SourceUri
{
    private readonly Dictionary<string, string> _options;
    private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

    private SourceUri(string text, Uri uri, Dictionary<string, string> options)
    {
        Text = text;
        Uri = uri;
        _options = options;
    }

    /// <summary>The URI as given.</summary>
    public string Text { get; }

    /// <summary>The parsed URI.</summary>
    public Uri Uri { get; }

    /// <summary>Lower-case scheme.</summary>
    public string Scheme => Uri.Scheme;

    /// <summary>The URI with any password replaced by <c>***</c>.</summary>
    public string Masked => EffectiveSettings.MaskUriCredentials(Text);

    /// <summary>The unescaped local path (<c>file:///a/b.mp4</c> → <c>/a/b.mp4</c>).</summary>
    public string LocalPath => Uri.UnescapeDataString(Uri.AbsolutePath);

    /// <summary>Parses <paramref name="text"/>; throws <see cref="SourceException"/> when it is not an absolute URI.</summary>
    public static SourceUri Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw new SourceException($"'{EffectiveSettings.MaskUriCredentials(text ?? "")}' is not a source URI (expected scheme://…, e.g. file:///videos/line1.mp4)");
        }

        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            options[Uri.UnescapeDataString(parts[0])] = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "true";
        }

        return new SourceUri(text, uri, options);
    }

    /// <summary>Names of the query options that no getter asked for.</summary>
    public IEnumerable<string> UnusedOptions => _options.Keys.Where(k => !_used.Contains(k));

    /// <summary>The query without the options the source consumed (stream URLs may carry their own parameters).</summary>
    public string QueryWithoutUsed()
    {
        var rest = Uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(p => !_used.Contains(Uri.UnescapeDataString(p.Split('=', 2)[0])));
        var query = string.Join('&', rest);
        return query.Length == 0 ? "" : "?" + query;
    }

    /// <summary>Throws when an option was given that the source does not know.</summary>
    public void RejectUnknownOptions()
    {
        var unknown = UnusedOptions.ToList();
        if (unknown.Count > 0)
        {
            throw new SourceException($"{Masked}: unknown option(s) {string.Join(", ", unknown)} for {Scheme}:// (known: {string.Join(", ", _used.Order())})");
        }
    }

    /// <summary>A boolean option (<c>true/false/1/0/yes/no</c>).</summary>
    public bool Bool(string name, bool fallback)
    {
        var value = Get(name);
        return value?.ToLowerInvariant() switch
        {
            null => fallback,
            "true" or "1" or "yes" or "on" => true,
            "false" or "0" or "no" or "off" => false,
            _ => throw Bad(name, value, "true or false"),
        };
    }

    /// <summary>An integer option within a range.</summary>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var value = Get(name);
        if (value is null)
        {
            return fallback;
        }

        return int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw Bad(name, value, $"an integer {min}–{max}");
    }

    /// <summary>A number option within a range.</summary>
    public double Double(string name, double fallback, double min, double max)
    {
        var value = Get(name);
        if (value is null)
        {
            return fallback;
        }

        return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw Bad(name, value, $"a number {min.ToString(CultureInfo.InvariantCulture)}–{max.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>A string option, optionally restricted to a set of values.</summary>
    public string? String(string name, params string[] allowed)
    {
        var value = Get(name);
        if (value is not null && allowed.Length > 0 && !allowed.Contains(value, StringComparer.OrdinalIgnoreCase))
        {
            throw Bad(name, value, string.Join(" or ", allowed));
        }

        return value;
    }

    private string? Get(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    private SourceException Bad(string name, string value, string expected) =>
        new($"{Masked}: option {name}={value} is not valid (expected {expected})");
}
