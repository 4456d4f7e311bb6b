using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>The daemon against a real Mosquitto, with Mosquitto's own clients as the line controller and the consumer.</summary>
public sealed class MosquittoTests
{
    [RequiresToolFact("mosquitto", "mosquitto_sub", "mosquitto_pub")]
    public async Task Results_and_replies_reach_mosquitto_sub_and_the_status_is_retained()
    {
        using var temp = new TempDirectory("daemon-mosquitto");
        using var broker = new Mosquitto(temp);
        var port = broker.Port;
        await using var daemon = new DaemonUnderTest(temp, port);
        TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
        await daemon.StartAsync();

        // A consumer that joins late still sees the retained status and models.
        var retained = Tools.RunIn(null, TimeSpan.FromSeconds(30), "mosquitto_sub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/status", "-t", $"{DaemonUnderTest.Root}/models", "-v", "-C", "2", "-W", "20");
        Assert.Contains($"{DaemonUnderTest.Root}/status online", retained, StringComparison.Ordinal);
        Assert.Contains("\"version\":\"v1\"", retained, StringComparison.Ordinal);

        using var consumer = Tools.Start("mosquitto_sub", ["-V", "mqttv5", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/+/result", "-t", $"{DaemonUnderTest.Root}/replies/line", "-F", "%t %D %p", "-C", "3", "-W", "30"]);
        var consumed = consumer.StandardOutput.ReadToEndAsync();
        await Task.Delay(500);
        var image = daemon.WriteImage("m.png", 240);
        Tools.Run("mosquitto_pub", "-V", "mqttv5", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/inspect",
            "-D", "publish", "response-topic", $"{DaemonUnderTest.Root}/replies/line", "-D", "publish", "correlation-data", "req-77",
            "-m", JsonSerializer.Serialize(new { part_id = "m-1", image_path = image }));
        Tools.Run("mosquitto_pub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/inspect", "-m", JsonSerializer.Serialize(new { part_id = "m-2", image_path = image }));

        Assert.True(consumer.WaitForExit(TimeSpan.FromSeconds(30)), "mosquitto_sub did not receive 3 messages");
        var lines = (await consumed).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        var answer = Assert.Single(lines, l => l.StartsWith($"{DaemonUnderTest.Root}/replies/line ", StringComparison.Ordinal));
        Assert.StartsWith($"{DaemonUnderTest.Root}/replies/line req-77 {{", answer, StringComparison.Ordinal);
        Assert.Contains("\"part_id\":\"m-1\"", answer, StringComparison.Ordinal);
        var results = lines.Where(l => l.StartsWith($"{DaemonUnderTest.Root}/file/result ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["m-1", "m-2"], results.Select(l => JsonDocument.Parse(l[(l.IndexOf('{', StringComparison.Ordinal))..]).RootElement.GetProperty("part_id").GetString()));

        await daemon.StopAsync();
        var status = Tools.RunIn(null, TimeSpan.FromSeconds(30), "mosquitto_sub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/status", "-C", "1", "-W", "10");
        Assert.Equal("offline", status.Trim());
    }

    [RequiresToolFact("mosquitto", "mosquitto_sub", "openssl")]
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP001:Dispose created", Justification = "Mosquitto.Stop ends and disposes it in the finally block.")]
    public async Task Tls_with_a_ca_file_client_certificate_and_password_connects_and_publishes()
    {
        using var temp = new TempDirectory("daemon-tls");
        string Pki(string name) => temp.Combine(name);
        void OpenSsl(params string[] args) => Tools.RunIn(temp.Path, TimeSpan.FromSeconds(60), "openssl", args);
        OpenSsl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem");
        foreach (var (name, cn) in new[] { ("server", "127.0.0.1"), ("client", "inspectiond") })
        {
            OpenSsl("req", "-newkey", "rsa:2048", "-nodes", "-subj", $"/CN={cn}", "-keyout", $"{name}.key", "-out", $"{name}.csr");
            File.WriteAllText(Pki($"{name}.ext"), name == "server" ? "subjectAltName=IP:127.0.0.1\n" : "extendedKeyUsage=clientAuth\n");
            OpenSsl("x509", "-req", "-in", $"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", $"{name}.pem", "-extfile", $"{name}.ext");
        }

        File.WriteAllText(Pki("password"), "s3cret\n");
        Tools.Run("mosquitto_passwd", "-b", "-c", Pki("passwd"), "inspector", "s3cret");
        var port = Tools.FreePort();
        File.WriteAllText(Pki("mosquitto.conf"), $"""
            listener {port} 127.0.0.1
            cafile {Pki("ca.pem")}
            certfile {Pki("server.pem")}
            keyfile {Pki("server.key")}
            require_certificate true
            allow_anonymous false
            password_file {Pki("passwd")}
            persistence false
            """);
        // Started as root, Mosquitto reads its files as the 'mosquitto' user: open up the test's throw-away keys.
        if (!OperatingSystem.IsWindows())
        {
            foreach (var file in Directory.GetFiles(temp.Path))
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }
        }

        var broker = Mosquitto.StartAndWait(Pki("mosquitto.conf"), port);
        try
        {
            await using var daemon = new DaemonUnderTest(temp, port);
            TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
            daemon.Options.Mqtt.Username = "inspector";
            daemon.Options.Mqtt.PasswordFile = Pki("password");
            daemon.Options.Mqtt.Tls.CaFile = Pki("ca.pem");
            daemon.Options.Mqtt.Tls.CertFile = Pki("client.pem");
            daemon.Options.Mqtt.Tls.KeyFile = Pki("client.key");
            await daemon.StartAsync();
            var status = Tools.RunIn(null, TimeSpan.FromSeconds(30), "mosquitto_sub", "-h", "127.0.0.1", "-p", $"{port}", "--cafile", Pki("ca.pem"), "--cert", Pki("client.pem"),
                "--key", Pki("client.key"), "-u", "inspector", "-P", "s3cret", "-t", $"{DaemonUnderTest.Root}/status", "-C", "1", "-W", "20");
            Assert.Equal("online", status.Trim());
        }
        finally
        {
            Mosquitto.Stop(broker);
        }
    }
}
