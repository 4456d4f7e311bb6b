using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Inspection.Config.Options;

namespace Inspection.Config.Loading;

/// <summary>Renders the effective configuration for <c>inspectiond check-config</c>, with secrets masked.</summary>
public static class EffectiveSettings
{
    /// <summary>Placeholder printed instead of a secret.</summary>
    public const string Mask = "***";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The options as indented JSON, keys as in the config file; user names and URI credentials masked.</summary>
    public static string ToJson(InspectionOptions options)
    {
        var node = JsonSerializer.SerializeToNode(options, Json)!.AsObject();
        var mqtt = node["Mqtt"]!.AsObject();
        if (mqtt["Username"]?.GetValue<string>() is { Length: > 0 })
        {
            mqtt["Username"] = Mask;
        }

        foreach (var camera in node["Cameras"]!.AsArray())
        {
            camera!["Source"] = MaskUriCredentials(camera["Source"]!.GetValue<string>());
        }

        return node.ToJsonString(Json);
    }

    /// <summary>Replaces the password in <c>scheme://user:password@host</c> with <see cref="Mask"/>.</summary>
    public static string MaskUriCredentials(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.UserInfo.Length == 0)
        {
            return uri;
        }

        var user = parsed.UserInfo.Split(':', 2)[0];
        var at = uri.IndexOf('@', StringComparison.Ordinal);
        var start = uri.IndexOf("://", StringComparison.Ordinal) + 3;
        return $"{uri[..start]}{user}:{Mask}{uri[at..]}";
    }
}
