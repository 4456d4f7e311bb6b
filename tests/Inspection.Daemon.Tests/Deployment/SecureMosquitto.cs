using Inspection.TestSupport;

namespace Inspection.Daemon.Tests.Deployment;

/// <summary>
/// A real Mosquitto secured as docs/deployment.md describes: a test CA made with openssl, TLS with user
/// name and password on one port, TLS that also requires a client certificate on another, and the repository's ACL
/// file (systemd/mosquitto-inspection.acl). Also a second, untrusted CA with a client certificate of its own.
/// </summary>
public sealed class SecureMosquitto : IDisposable
{
    public const string DaemonUser = "dev1";
    public const string DaemonPassword = "s3cret-Daemon-pw";
    public const string ControllerUser = "line-controller";
    public const string ControllerPassword = "controller-pw";

    private readonly TempDirectory _dir = new("inspection-mosquitto-tls");
    private readonly System.Diagnostics.Process _broker;

    public SecureMosquitto()
        : this(acl => acl)
    {
    }

    /// <summary>With the repository's ACL as <paramref name="editAcl"/> changes it (e.g. optional lines uncommented).</summary>
    internal SecureMosquitto(Func<string, string> editAcl)
    {
        MakeCa("ca", "Inspection Test CA");
        MakeCa("rogue-ca", "Rogue CA");
        MakeLeaf("server", "ca", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        MakeLeaf("client", "ca", DaemonUser, "extendedKeyUsage=clientAuth\n");
        MakeLeaf("rogue-client", "rogue-ca", DaemonUser, "extendedKeyUsage=clientAuth\n");

        var passwords = File("passwords");
        Tools.Run("mosquitto_passwd", "-b", "-c", passwords, DaemonUser, DaemonPassword);
        Tools.Run("mosquitto_passwd", "-b", passwords, ControllerUser, ControllerPassword);
        // Mosquitto started as root drops to its own user before reading keys and password files.
        foreach (var readable in new[] { passwords, File("server.key"), _dir.Path })
        {
            System.IO.File.SetUnixFileMode(readable, System.IO.File.GetUnixFileMode(readable) | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        var acl = File("inspection.acl");
        System.IO.File.WriteAllText(acl, editAcl(System.IO.File.ReadAllText(Path.Combine(Repository.Root, "systemd", "mosquitto-inspection.acl"))));
        PasswordPort = Tools.FreePort();
        ClientCertificatePort = Tools.FreePort();
        OtherAddressPort = Tools.FreePort();
        var config = File("mosquitto.conf");
        var tls = $"cafile {File("ca.pem")}\ncertfile {File("server.pem")}\nkeyfile {File("server.key")}\n";
        System.IO.File.WriteAllText(config,
            $"per_listener_settings false\nallow_anonymous false\npassword_file {passwords}\nacl_file {acl}\npersistence false\n" +
            $"listener {PasswordPort} 127.0.0.1\n{tls}" +
            $"listener {ClientCertificatePort} 127.0.0.1\n{tls}require_certificate true\n" +
            $"listener {OtherAddressPort} {OtherAddress}\n{tls}");
        _broker = Tools.Start("mosquitto", ["-c", config]);
        Tools.WaitForPort(PasswordPort, server: _broker);
        Tools.WaitForPort(ClientCertificatePort, server: _broker);
        Tools.WaitForPort(OtherAddressPort, OtherAddress, _broker);
    }

    /// <summary>TLS with user name and password.</summary>
    public int PasswordPort { get; }

    /// <summary>TLS with user name and password, and a client certificate the test CA signed.</summary>
    public int ClientCertificatePort { get; }

    /// <summary>A loopback address the server certificate does not name (it names localhost and 127.0.0.1).</summary>
    public const string OtherAddress = "127.0.0.2";

    /// <summary>TLS with user name and password on <see cref="OtherAddress"/>: the certificate does not match the host.</summary>
    public int OtherAddressPort { get; }

    public string File(string name) => _dir.Combine(name);

    public void Dispose()
    {
        Mosquitto.Stop(_broker);
        _dir.Dispose();
    }

    private void MakeCa(string name, string commonName) =>
        Tools.RunIn(_dir.Path, TimeSpan.FromMinutes(1), "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.pem", "-days", "2", "-subj", $"/CN={commonName}");

    private void MakeLeaf(string name, string ca, string commonName, string extensions)
    {
        System.IO.File.WriteAllText(File($"{name}.ext"), extensions);
        Tools.RunIn(_dir.Path, TimeSpan.FromMinutes(1), "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", $"/CN={commonName}");
        Tools.RunIn(_dir.Path, TimeSpan.FromMinutes(1), "openssl", "x509", "-req", "-in", $"{name}.csr", "-CA", $"{ca}.pem", "-CAkey", $"{ca}.key",
            "-CAcreateserial", "-out", $"{name}.pem", "-days", "2", "-extfile", $"{name}.ext");
    }
}
