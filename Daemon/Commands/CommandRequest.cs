using System.Text.Json;

namespace Inspection.Daemon.Commands;

/// <summary>An inspect request or command as it arrived, with the MQTT 5 response topic and correlation data to answer with.</summary>
internal sealed record CommandRequest(string Name, byte[] Payload, string? ResponseTopic, byte[]? Correlation);

/// <summary>A request the daemon refuses; the message goes back to the sender and names what was wrong.</summary>
internal sealed class CommandException(string message) : Exception(message);

/// <summary>Reads the small JSON objects requests carry, with errors that say which field is wrong.</summary>
internal static class RequestJson
{
    public static JsonElement ParseObject(byte[] payload, bool emptyAllowed)
    {
        if (payload.Length == 0 || payload.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
        {
            if (emptyAllowed)
            {
                return JsonDocument.Parse("{}").RootElement.Clone();
            }

            throw new CommandException("payload is empty; expected a JSON object");
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CommandException($"payload must be a JSON object, got a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            }

            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new CommandException($"payload is not valid JSON: {ex.Message}");
        }
    }

    public static string? OptionalString(JsonElement request, string name)
    {
        if (!request.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString()!.Length == 0)
        {
            throw new CommandException($"'{name}' must be a non-empty string");
        }

        return value.GetString();
    }
}
