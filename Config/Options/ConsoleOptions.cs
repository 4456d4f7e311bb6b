using System.Net;

namespace Inspection.Config.Options;

/// <summary>The operator console: HTTP endpoint, page, metrics and JSON API.</summary>
public sealed class HttpOptions
{
    /// <summary><c>address:port</c> to listen on (e.g. <c>127.0.0.1:8080</c>, <c>0.0.0.0:8443</c>, <c>[::1]:8080</c>); empty turns the
    /// server off. Any address other than loopback needs <see cref="PasswordFile"/>.</summary>
    public string Listen { get; set; } = "127.0.0.1:8080";

    /// <summary>User name for HTTP Basic authentication.</summary>
    public string Username { get; set; } = "operator";

    /// <summary>File holding the password (also accepted as a bearer token, e.g. by Prometheus); a bare name is looked up
    /// in systemd's <c>$CREDENTIALS_DIRECTORY</c>. Empty: no authentication (loopback only).</summary>
    public string PasswordFile { get; set; } = "";

    /// <summary>PEM certificate; with <see cref="TlsKeyFile"/> the server speaks HTTPS only.</summary>
    public string TlsCertFile { get; set; } = "";

    /// <summary>PEM private key of <see cref="TlsCertFile"/>.</summary>
    public string TlsKeyFile { get; set; } = "";

    /// <summary>The address and port of <see cref="Listen"/> (port 0: any free port), or null when it is not of the form
    /// <c>address:port</c> with a numeric IPv4 or bracketed IPv6 address.</summary>
    public IPEndPoint? ListenEndpoint()
    {
        // IPEndPoint.TryParse also takes a bare address (port 0) and an unbracketed IPv6 address: require the port.
        var hasPort = Listen.StartsWith('[') ? Listen.Contains("]:", StringComparison.Ordinal) : Listen.Count(c => c == ':') == 1;
        return hasPort && !Listen.EndsWith(':') && IPEndPoint.TryParse(Listen, out var endpoint) ? endpoint : null;
    }
}

/// <summary>The result history: every result indexed in SQLite next to the snapshots.</summary>
public sealed class HistoryOptions
{
    /// <summary>Index results at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>SQLite file; empty means <c>{Snapshots:Directory}/history.db</c> (no history when both are empty).</summary>
    public string File { get; set; } = "";

    /// <summary>Most results kept (oldest removed first); results older than <c>Snapshots:MaxAge</c> are removed too.</summary>
    public int MaxRows { get; set; } = 1_000_000;
}

/// <summary>The review queue: frames kept for an operator to label, which then feed retraining.</summary>
public sealed class ReviewOptions
{
    /// <summary>File-name prefix of labelled review frames in the dataset; the trainer counts them as reviewed images.</summary>
    public const string DatasetPrefix = "review-";

    /// <summary>Folder of frames waiting for a label; empty turns the queue off.</summary>
    public string Directory { get; set; } = "/var/lib/inspection/review";

    /// <summary>Where labelled frames go, in <c>trainer classify --data</c>'s layout (<c>good/</c>, <c>defect/</c>).</summary>
    public string DatasetDirectory { get; set; } = "/var/lib/inspection/data/classifier";

    /// <summary>A frame is uncertain (kept) when |score − threshold| is at most this.</summary>
    public double Band { get; set; } = 0.1;

    /// <summary>Fraction of confident frames also kept, so the model's sure answers get checked too.</summary>
    public double ConfidentSampleRate { get; set; } = 0.001;

    /// <summary>Most frames waiting; when full, new uncertain frames are not kept (operator flags always are).</summary>
    public int MaxCount { get; set; } = 2000;
}

/// <summary>Camera tampering detection against a reference learned at start and refreshed slowly.</summary>
public sealed class TamperingOptions
{
    /// <summary>Check cameras for tampering.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often each camera's freshest frame is checked.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks averaged into the first reference.</summary>
    public int ReferenceFrames { get; set; } = 5;

    /// <summary>Weight of each normal check in the slowly refreshed reference (0.01 ≈ the last 100 checks).</summary>
    public double RefreshRate { get; set; } = 0.01;

    /// <summary>Consecutive abnormal checks before an alarm starts (and normal ones before it ends).</summary>
    public int Confirm { get; set; } = 3;

    /// <summary>Covered or blinded: contrast (grey-level standard deviation) below this fraction of the reference's.</summary>
    public double ContrastDrop { get; set; } = 0.35;

    /// <summary>Covered or blinded: mean brightness moved by more than this (0-255 scale).</summary>
    public double BrightnessShift { get; set; } = 60;

    /// <summary>Out of focus: sharpness (variance of the Laplacian) below this fraction of the reference's.</summary>
    public double SharpnessDrop { get; set; } = 0.3;

    /// <summary>Moved or replaced scene: structural similarity to the reference below this (−1..1).</summary>
    public double MinSimilarity { get; set; } = 0.5;
}
