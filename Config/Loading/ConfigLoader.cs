using System.Globalization;
using Inspection.Config.Options;
using Microsoft.Extensions.Configuration;

namespace Inspection.Config.Loading;

/// <summary>A configuration that cannot be used: names the key and the expected form.</summary>
public sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
{
    /// <summary>sysexits.h EX_CONFIG: systemd's unit treats it as "do not restart".</summary>
    public const int ExitCode = 78;

    /// <summary>Every problem found, each naming its key.</summary>
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

/// <summary>One configuration problem.</summary>
/// <param name="Key">Configuration key, as in JSON paths joined by ':' (e.g. <c>Cameras:0:Source</c>).</param>
/// <param name="Message">What is wrong and what form is expected.</param>
public sealed record ConfigError(string Key, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"config error: {Key}: {Message}";
}

/// <summary>Reads one JSON file plus <c>INSPECTION__Section__Key</c> environment overrides into <see cref="InspectionOptions"/>.</summary>
public static class ConfigLoader
{
    /// <summary>Where the daemon and trainer look when no <c>--config</c> is given.</summary>
    public const string DefaultPath = "/etc/inspection/inspection.json";

    /// <summary>Prefix of environment overrides; <c>__</c> separates sections.</summary>
    public const string EnvironmentPrefix = "INSPECTION__";

    /// <summary>Builds the layered configuration: the JSON file (comments allowed), then environment overrides.</summary>
    /// <param name="path">JSON file; must exist.</param>
    /// <param name="environment">Environment to read overrides from; null means the process environment.</param>
    public static IConfigurationRoot Build(string path, IDictionary<string, string?>? environment = null)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new ConfigException([new ConfigError("--config", $"file '{full}' does not exist (expected a JSON config file, see Config/inspection.example.json)")]);
        }

        var builder = new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false);
        if (environment is null)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);
        }
        else
        {
            builder.AddInMemoryCollection(environment
                .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.Ordinal))
                .Select(kv => new KeyValuePair<string, string?>(
                    kv.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)));
        }

        try
        {
            return builder.Build();
        }
        catch (InvalidDataException ex)
        {
            throw new ConfigException([new ConfigError("--config", $"'{full}' is not valid JSON: {ex.InnerException?.Message ?? ex.Message}")]);
        }
    }

    /// <summary>Loads, binds and validates; throws <see cref="ConfigException"/> listing every problem.</summary>
    public static InspectionOptions Load(string path, IDictionary<string, string?>? environment = null)
        => Bind(Build(path, environment));

    /// <summary>Binds an already built configuration and validates it.</summary>
    public static InspectionOptions Bind(IConfiguration configuration)
    {
        var errors = new List<ConfigError>();
        errors.AddRange(UnknownKeys(configuration));
        if (errors.Count > 0)
        {
            throw new ConfigException(errors);
        }

        InspectionOptions options;
        try
        {
            options = configuration.Get<InspectionOptions>() ?? new InspectionOptions();
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException([ConversionError(configuration, ex)]);
        }

        errors.AddRange(ConfigValidator.Validate(options));
        if (errors.Count > 0)
        {
            throw new ConfigException(errors);
        }

        return options;
    }

    // The binder's own unknown-key error stops at the first one and names the type, not the key; we list every
    // misspelt key with its full path so an operator can fix the file in one go.
    private static IEnumerable<ConfigError> UnknownKeys(IConfiguration configuration)
    {
        foreach (var section in configuration.GetChildren())
        {
            foreach (var error in UnknownKeys(section, typeof(InspectionOptions)))
            {
                yield return error;
            }
        }
    }

    private static IEnumerable<ConfigError> UnknownKeys(IConfigurationSection section, Type owner)
    {
        var property = owner.GetProperty(section.Key, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
        if (property is null || !property.CanWrite)
        {
            var known = string.Join(", ", owner.GetProperties().Where(p => p.CanWrite).Select(p => p.Name));
            yield return new ConfigError(section.Path, $"unknown key '{section.Key}' (known keys here: {known})");
            yield break;
        }

        foreach (var error in UnknownKeysOfValue(section, property.PropertyType))
        {
            yield return error;
        }
    }

    private static IEnumerable<ConfigError> UnknownKeysOfValue(IConfigurationSection section, Type type)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            if (section.Value is { } value && !CanConvert(value, type))
            {
                yield return new ConfigError(section.Path, $"cannot read '{value}' as {Describe(type)}");
            }

            yield break;
        }

        var element = ListElementType(type);
        if (element is not null)
        {
            foreach (var child in children)
            {
                if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    yield return new ConfigError(child.Path, "expected a list index (0, 1, …) here; this key takes a JSON array");
                    continue;
                }

                foreach (var error in UnknownKeysOfValue(child, element))
                {
                    yield return error;
                }
            }

            yield break;
        }

        if (IsScalar(type))
        {
            yield return new ConfigError(section.Path, $"expected a single value ({Describe(type)}), found an object");
            yield break;
        }

        foreach (var child in children)
        {
            foreach (var error in UnknownKeys(child, type))
            {
                yield return error;
            }
        }
    }

    private static bool CanConvert(string value, Type type)
    {
        if (type.IsEnum)
        {
            return Enum.TryParse(type, value, ignoreCase: true, out var parsed) && Enum.IsDefined(type, parsed!);
        }

        if (!IsScalar(type) || type == typeof(string))
        {
            return true;
        }

        try
        {
            System.ComponentModel.TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or OverflowException)
        {
            return false;
        }
    }

    private static Type? ListElementType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0] : null;

    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);

    private static ConfigError ConversionError(IConfiguration configuration, InvalidOperationException ex)
    {
        // The binder says: "Failed to convert configuration value '…' at 'Mqtt:Port' to type 'System.Int32'."
        var message = ex.Message;
        var at = message.IndexOf(" at '", StringComparison.Ordinal);
        if (at >= 0)
        {
            var end = message.IndexOf('\'', at + 5);
            var key = message[(at + 5)..end];
            var type = FindPropertyType(key);
            return new ConfigError(key, $"cannot read '{configuration[key]}' as {(type is null ? "the expected type" : Describe(type))}");
        }

        return new ConfigError("(config)", message);
    }

    private static Type? FindPropertyType(string key)
    {
        Type? type = typeof(InspectionOptions);
        foreach (var part in key.Split(':'))
        {
            if (type is null)
            {
                return null;
            }

            if (ListElementType(type) is { } element && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                type = element;
                continue;
            }

            type = type.GetProperty(part, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase)?.PropertyType;
        }

        return type;
    }

    /// <summary>Human description of the form a value of <paramref name="type"/> takes.</summary>
    public static string Describe(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(double) => "a number such as 0.5",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(TimeSpan) => "a duration as hh:mm:ss (e.g. 00:00:30)",
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant())),
        _ => "text",
    };
}
