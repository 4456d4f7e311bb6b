using Inspection.Config.Options;

namespace Inspection.Config.Loading;

/// <summary>Checks values that bind but make no sense; every error names its key and the expected form.</summary>
public static class ConfigValidator
{
    /// <summary>Returns every problem in <paramref name="o"/>; empty when the configuration is usable.</summary>
    public static IReadOnlyList<ConfigError> Validate(InspectionOptions o)
    {
        var errors = new List<ConfigError>();
        void Check(bool ok, string key, string message)
        {
            if (!ok)
            {
                errors.Add(new ConfigError(key, message));
            }
        }

        CheckMqtt(o.Mqtt, Check);
        CheckCameras(o.Cameras, Check);
        CheckConsole(o, Check);

        Check(!string.IsNullOrWhiteSpace(o.Models.Directory), "Models:Directory", "must name the folder holding classifier/ and segmenter/ packages");
        Check(o.Models.Threads is >= 0 and <= 256, "Models:Threads", $"must be 0 (automatic) to 256 (got {o.Models.Threads})");

        Check(o.Pipeline.FrameQueueCapacity is >= 1 and <= 1000, "Pipeline:FrameQueueCapacity", $"must be 1-1000 (got {o.Pipeline.FrameQueueCapacity})");
        Check(o.Pipeline.ResultQueueCapacity is >= 1 and <= 1_000_000, "Pipeline:ResultQueueCapacity", $"must be 1-1000000 (got {o.Pipeline.ResultQueueCapacity})");
        Check(o.Pipeline.SkipSegmentationBelow is >= 0 and <= 1, "Pipeline:SkipSegmentationBelow", $"must be a fraction 0-1 (got {o.Pipeline.SkipSegmentationBelow})");
        Check(o.Pipeline.MinRegionArea >= 0, "Pipeline:MinRegionArea", $"must not be negative (got {o.Pipeline.MinRegionArea})");
        Check(o.Pipeline.ShutdownTimeout > TimeSpan.Zero, "Pipeline:ShutdownTimeout", "must be a positive duration such as 00:00:20");

        Check(!string.IsNullOrWhiteSpace(o.Outbox.Directory), "Outbox:Directory", "must name a writable folder for undelivered results");
        Check(o.Outbox.MaxBytes >= 64 * 1024, "Outbox:MaxBytes", $"must be at least 65536 (got {o.Outbox.MaxBytes})");

        Check(o.Snapshots.GoodSampleRate is >= 0 and <= 1, "Snapshots:GoodSampleRate", $"must be a fraction 0-1 (got {o.Snapshots.GoodSampleRate})");
        Check(o.Snapshots.MaxCount >= 1, "Snapshots:MaxCount", $"must be at least 1 (got {o.Snapshots.MaxCount})");
        Check(o.Snapshots.MaxBytes >= 1024 * 1024, "Snapshots:MaxBytes", $"must be at least 1048576 (got {o.Snapshots.MaxBytes})");
        Check(o.Snapshots.MaxAge > TimeSpan.Zero, "Snapshots:MaxAge", "must be a positive duration such as 30.00:00:00");

        for (var i = 0; i < o.Inspect.AllowedFolders.Count; i++)
        {
            Check(Path.IsPathFullyQualified(o.Inspect.AllowedFolders[i]), $"Inspect:AllowedFolders:{i}", $"must be an absolute folder path (got '{o.Inspect.AllowedFolders[i]}')");
        }

        Check(o.Inspect.MaxImagePixels >= 64 * 64, "Inspect:MaxImagePixels", $"must be at least 4096 (got {o.Inspect.MaxImagePixels})");

        var t = o.Trainer;
        Check(t.RecallTarget is > 0 and < 1, "Trainer:RecallTarget", $"must be strictly between 0 and 1, e.g. 0.99 (got {t.RecallTarget})");
        Check(t.ValidationFraction is > 0 and < 0.5, "Trainer:ValidationFraction", $"must be between 0 and 0.5 (got {t.ValidationFraction})");
        Check(t.TestFraction is > 0 and < 0.5, "Trainer:TestFraction", $"must be between 0 and 0.5 (got {t.TestFraction})");
        Check(t.Threads >= 0, "Trainer:Threads", $"must be 0 (all cores) or more (got {t.Threads})");
        // 0: the trainer chooses the classifier's input size from the data.
        CheckTask(t.Classifier, "Trainer:Classifier", 16, Check, zeroAllowed: true);

        // The U-Net halves the image five times and concatenates each level with its skip: sides must divide by 32.
        CheckTask(t.Segmenter, "Trainer:Segmenter", 32, Check);
        return errors;
    }

    private static void CheckMqtt(MqttOptions m, Action<bool, string, string> check)
    {
        check(!string.IsNullOrWhiteSpace(m.Host), "Mqtt:Host", "must name the broker host (e.g. 127.0.0.1)");
        check(m.Port is > 0 and <= 65535, "Mqtt:Port", $"must be a TCP port 1-65535 (got {m.Port})");
        check(IsTopicLevel(m.TopicPrefix), "Mqtt:TopicPrefix", $"must be one non-empty topic level without '/', '+' or '#' (got '{m.TopicPrefix}')");
        check(m.Device.Length == 0 || IsTopicLevel(m.Device), "Mqtt:Device", $"must be empty (host name) or one topic level without '/', '+' or '#' (got '{m.Device}')");
        check(m.KeepAlive > TimeSpan.Zero, "Mqtt:KeepAlive", "must be a positive duration such as 00:00:15");
        check(m.ReconnectMinDelay > TimeSpan.Zero, "Mqtt:ReconnectMinDelay", "must be a positive duration such as 00:00:00.5");
        check(m.ReconnectMaxDelay >= m.ReconnectMinDelay, "Mqtt:ReconnectMaxDelay", "must be at least Mqtt:ReconnectMinDelay");
        check(m.StatsInterval > TimeSpan.Zero, "Mqtt:StatsInterval", "must be a positive duration such as 00:00:10");
        check(m.MaxPayloadBytes is >= 256 and <= 16 * 1024 * 1024, "Mqtt:MaxPayloadBytes", $"must be between 256 and 16777216 (got {m.MaxPayloadBytes})");
        check(m.PasswordFile.Length == 0 || m.Username.Length > 0, "Mqtt:PasswordFile", "is set but Mqtt:Username is empty");
        var shared = m.SharedInspectTopic;
        check(shared.Length == 0 || (!string.IsNullOrWhiteSpace(shared) && shared.IndexOfAny(['+', '#']) < 0 && !shared.StartsWith('$')), "Mqtt:SharedInspectTopic",
            $"must be empty or a plain topic without '+', '#' or a leading '$' (the daemon adds $share/{{group}}/ itself), e.g. inspection/pool/inspect (got '{shared}')");
        for (var i = 0; i < m.ResponseTopicPrefixes.Count; i++)
        {
            var prefix = m.ResponseTopicPrefixes[i];
            check(prefix.EndsWith('/') && prefix.Length > 1 && prefix.IndexOfAny(['+', '#']) < 0 && !prefix.StartsWith('$'), $"Mqtt:ResponseTopicPrefixes:{i}",
                $"must be a topic prefix ending in '/' without '+', '#' or a leading '$', e.g. inspection/line3/replies/ (got '{prefix}')");
        }

        check(IsTopicLevel(m.ShareGroup), "Mqtt:ShareGroup", $"must be a non-empty share group name without '/', '+' or '#' (got '{m.ShareGroup}')");
        CheckFile(m.Tls.CaFile, "Mqtt:Tls:CaFile", "a PEM CA certificate", check);
        CheckFile(m.Tls.CertFile, "Mqtt:Tls:CertFile", "a PEM client certificate", check);
        CheckFile(m.Tls.KeyFile, "Mqtt:Tls:KeyFile", "a PEM private key", check);
        check((m.Tls.CertFile.Length == 0) == (m.Tls.KeyFile.Length == 0), "Mqtt:Tls:KeyFile", "Mqtt:Tls:CertFile and Mqtt:Tls:KeyFile must be set together");
    }

    private static void CheckCameras(List<CameraOptions> cameras, Action<bool, string, string> check)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < cameras.Count; i++)
        {
            var c = cameras[i];
            var key = $"Cameras:{i}";
            check(IsTopicLevel(c.Id), $"{key}:Id", $"must be a non-empty id without '/', '+' or '#' (got '{c.Id}')");
            check(ids.Add(c.Id), $"{key}:Id", $"'{c.Id}' is used by another camera; ids must be unique");
            check(Uri.TryCreate(c.Source, UriKind.Absolute, out var uri) && SourceSchemes.Examples.ContainsKey(uri.Scheme),
                $"{key}:Source", $"must be a URI with scheme {SourceSchemes.List} (got '{c.Source}')");
            check(c.MaxFps >= 0, $"{key}:MaxFps", $"must be 0 (uncapped) or a positive rate (got {c.MaxFps})");
            check(c.Roi.X >= 0 && c.Roi.Y >= 0 && c.Roi.Width >= 0 && c.Roi.Height >= 0, $"{key}:Roi", "X, Y, Width and Height must not be negative");
            check(c.StallTimeout > TimeSpan.Zero, $"{key}:StallTimeout", "must be a positive duration such as 00:00:05");
            CheckTampering(c.Tampering, $"{key}:Tampering", check);
        }
    }

    private static void CheckTask(TrainerTaskOptions t, string key, int sizeMultiple, Action<bool, string, string> check, bool zeroAllowed = false)
    {
        check((zeroAllowed && t.ImageSize == 0) || (t.ImageSize >= sizeMultiple && t.ImageSize <= 2048 && t.ImageSize % sizeMultiple == 0), $"{key}:ImageSize",
            $"must be a multiple of {sizeMultiple} between {sizeMultiple} and 2048{(zeroAllowed ? ", or 0 (from the data)" : "")} (got {t.ImageSize})");
        check(t.Epochs is >= 1 and <= 10_000, $"{key}:Epochs", $"must be 1-10000 (got {t.Epochs})");
        check(t.BatchSize is >= 1 and <= 4096, $"{key}:BatchSize", $"must be 1-4096 (got {t.BatchSize})");
        check(t.WidthMultiplier is > 0 and <= 4, $"{key}:WidthMultiplier", $"must be in (0, 4] (got {t.WidthMultiplier})");
    }

    private static void CheckConsole(InspectionOptions o, Action<bool, string, string> check)
    {
        var http = o.Http;
        if (http.Listen.Length > 0)
        {
            var endpoint = http.ListenEndpoint();
            check(endpoint is not null, "Http:Listen", $"must be empty (off) or address:port such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080 (got '{http.Listen}')");
            check(endpoint is null || System.Net.IPAddress.IsLoopback(endpoint.Address) || http.PasswordFile.Length > 0, "Http:PasswordFile",
                $"must be set when Http:Listen is not a loopback address (got '{http.Listen}'): the console then needs a password");
        }

        check(http.PasswordFile.Length == 0 || http.Username.Length > 0, "Http:Username", "must not be empty when Http:PasswordFile is set");
        CheckFile(http.TlsCertFile, "Http:TlsCertFile", "a PEM certificate", check);
        CheckFile(http.TlsKeyFile, "Http:TlsKeyFile", "a PEM private key", check);
        check((http.TlsCertFile.Length == 0) == (http.TlsKeyFile.Length == 0), "Http:TlsKeyFile", "Http:TlsCertFile and Http:TlsKeyFile must be set together");
        check(o.History.MaxRows >= 100, "History:MaxRows", $"must be at least 100 (got {o.History.MaxRows})");
        check(o.Review.Band is >= 0 and < 1, "Review:Band", $"must be a score distance 0-1 (got {o.Review.Band})");
        check(o.Review.ConfidentSampleRate is >= 0 and <= 1, "Review:ConfidentSampleRate", $"must be a fraction 0-1 (got {o.Review.ConfidentSampleRate})");
        check(o.Review.MaxCount >= 1, "Review:MaxCount", $"must be at least 1 (got {o.Review.MaxCount})");
        check(o.Review.Directory.Length == 0 || o.Review.DatasetDirectory.Length > 0, "Review:DatasetDirectory", "must name the folder labelled frames go to (good/, defect/)");
    }

    private static void CheckTampering(TamperingOptions t, string key, Action<bool, string, string> check)
    {
        check(t.Interval > TimeSpan.Zero, $"{key}:Interval", "must be a positive duration such as 00:00:01");
        check(t.ReferenceFrames >= 1, $"{key}:ReferenceFrames", $"must be at least 1 (got {t.ReferenceFrames})");
        check(t.RefreshRate is >= 0 and < 1, $"{key}:RefreshRate", $"must be a fraction 0-1 (got {t.RefreshRate})");
        check(t.Confirm >= 1, $"{key}:Confirm", $"must be at least 1 (got {t.Confirm})");
        check(t.ContrastDrop is > 0 and < 1, $"{key}:ContrastDrop", $"must be a fraction strictly between 0 and 1 (got {t.ContrastDrop})");
        check(t.BrightnessShift is > 0 and < 255, $"{key}:BrightnessShift", $"must be 0-255 grey levels (got {t.BrightnessShift})");
        check(t.SharpnessDrop is > 0 and < 1, $"{key}:SharpnessDrop", $"must be a fraction strictly between 0 and 1 (got {t.SharpnessDrop})");
        check(t.MinSimilarity is > -1 and < 1, $"{key}:MinSimilarity", $"must be between -1 and 1 (got {t.MinSimilarity})");
    }

    private static void CheckFile(string path, string key, string what, Action<bool, string, string> check) =>
        check(path.Length == 0 || File.Exists(path), key, $"must be an existing file holding {what} (got '{path}')");

    private static bool IsTopicLevel(string s) =>
        !string.IsNullOrWhiteSpace(s) && s.IndexOfAny(['/', '+', '#']) < 0;
}
