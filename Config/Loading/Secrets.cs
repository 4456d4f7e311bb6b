namespace Inspection.Config.Loading;

/// <summary>Reads secrets (MQTT password, …) from files, never from the config itself, so they stay out of logs.</summary>
public static class Secrets
{
    /// <summary>
    /// Reads the secret named by a config value: an absolute path, or a bare name looked up in systemd's
    /// <c>$CREDENTIALS_DIRECTORY</c> (set by <c>LoadCredential=</c>), else relative to the working folder.
    /// One trailing newline is removed. Throws <see cref="ConfigException"/> naming <paramref name="key"/>.
    /// </summary>
    public static string Read(string key, string pathOrName, IDictionary<string, string?>? environment = null)
    {
        var credentials = environment is null
            ? Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY")
            : environment.TryGetValue("CREDENTIALS_DIRECTORY", out var dir) ? dir : null;
        var path = !Path.IsPathRooted(pathOrName) && !pathOrName.Contains('/', StringComparison.Ordinal) && !string.IsNullOrEmpty(credentials)
            ? Path.Combine(credentials, pathOrName)
            : Path.GetFullPath(pathOrName);
        try
        {
            var text = File.ReadAllText(path);
            return text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(key, $"cannot read secret file '{path}': {ex.Message}")]);
        }
    }
}
