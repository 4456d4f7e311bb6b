namespace Inspection.Config.Options;

/// <summary>The whole configuration of the system: one JSON file plus <c>INSPECTION__Section__Key</c> overrides.</summary>
public sealed class InspectionOptions
{
    /// <summary>Broker connection and topic tree.</summary>
    public MqttOptions Mqtt { get; set; } = new();

    /// <summary>Cameras, each with its own capture loop.</summary>
    public List<CameraOptions> Cameras { get; set; } = [];

    /// <summary>Where model packages are found and how they run.</summary>
    public ModelsOptions Models { get; set; } = new();

    /// <summary>Queue sizes and inspection policy.</summary>
    public PipelineOptions Pipeline { get; set; } = new();

    /// <summary>Disk outbox that holds results while the broker is away.</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>Frame and mask snapshots of defects.</summary>
    public SnapshotsOptions Snapshots { get; set; } = new();

    /// <summary>MQTT-triggered inspections.</summary>
    public InspectOptions Inspect { get; set; } = new();

    /// <summary>Operator console: HTTP server, page, metrics, JSON API.</summary>
    public HttpOptions Http { get; set; } = new();

    /// <summary>Result history in SQLite.</summary>
    public HistoryOptions History { get; set; } = new();

    /// <summary>Review queue feeding retraining.</summary>
    public ReviewOptions Review { get; set; } = new();

    /// <summary>What <c>trainer --recall-target R</c> retrains from.</summary>
    public TrainerOptions Trainer { get; set; } = new();
}

/// <summary>MQTT broker connection and the first two levels of the topic tree.</summary>
public sealed class MqttOptions
{
    /// <summary>Broker host name or address.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Broker TCP port (1883 plain, 8883 TLS by convention).</summary>
    public int Port { get; set; } = 1883;

    /// <summary>First topic level.</summary>
    public string TopicPrefix { get; set; } = "inspection";

    /// <summary>Second topic level; empty means the host name.</summary>
    public string Device { get; set; } = "";

    /// <summary>MQTT client id; empty means <c>inspectiond-{device}</c>.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>User name, if the broker needs one.</summary>
    public string Username { get; set; } = "";

    /// <summary>File holding the password; a bare name is looked up in systemd's <c>$CREDENTIALS_DIRECTORY</c>.</summary>
    public string PasswordFile { get; set; } = "";

    /// <summary>Start an in-process broker on <see cref="Host"/>:<see cref="Port"/> (demo and tests).</summary>
    public bool Embedded { get; set; }

    /// <summary>MQTT keep-alive period.</summary>
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>First reconnect delay; doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest reconnect delay.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the <c>stats</c> topic is published.</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest accepted payload on the inspect and command topics, in bytes. The daemon also announces a
    /// maximum packet size of this plus 64 KiB to the broker, which then drops larger requests instead of sending them.</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Topic prefixes an MQTT 5 response topic must start with (answers elsewhere are refused and reported on
    /// <c>cmd/reply</c>). Empty: the reply trees, <c>{prefix}/{device}/replies/</c> and, with a shared request topic,
    /// <c>replies/</c> beside it (e.g. <c>inspection/pool/replies/</c>). The daemon's own topics are always refused.</summary>
    public List<string> ResponseTopicPrefixes { get; set; } = [];

    /// <summary>A plain topic (no wildcards), e.g. <c>inspection/pool/inspect</c>, that several daemons share for
    /// inspection requests: the daemon also subscribes <c>$share/{ShareGroup}/{topic}</c> (MQTT 5 shared subscription),
    /// so the broker hands each request to one daemon of the group. Empty: only the daemon's own inspect topic.</summary>
    public string SharedInspectTopic { get; set; } = "";

    /// <summary>Share group of <see cref="SharedInspectTopic"/>; daemons in the same group split the requests.</summary>
    public string ShareGroup { get; set; } = "inspectors";

    /// <summary>TLS settings.</summary>
    public MqttTlsOptions Tls { get; set; } = new();
}

/// <summary>TLS towards the broker.</summary>
public sealed class MqttTlsOptions
{
    /// <summary>Use TLS. Implied when <see cref="CaFile"/> is set.</summary>
    public bool Enabled { get; set; }

    /// <summary>PEM file of the CA that signed the broker's certificate.</summary>
    public string CaFile { get; set; } = "";

    /// <summary>PEM client certificate, for brokers that require one.</summary>
    public string CertFile { get; set; } = "";

    /// <summary>PEM private key of <see cref="CertFile"/>.</summary>
    public string KeyFile { get; set; } = "";
}

/// <summary>How a camera delivers frames.</summary>
public enum TriggerMode
{
    /// <summary>Inspect every frame (up to <see cref="CameraOptions.MaxFps"/>).</summary>
    Stream,

    /// <summary>Inspect only on request: the freshest frame is grabbed when an inspection is asked for.</summary>
    Trigger,
}

/// <summary>One camera.</summary>
public sealed class CameraOptions
{
    /// <summary>Camera id, used in topics and results.</summary>
    public string Id { get; set; } = "";

    /// <summary>Source URI: <c>v4l2:///dev/video0</c>, <c>rtsp://…</c>, <c>http(s)://…</c>, <c>file:///…</c>, <c>dir:///…</c>, <c>synthetic://</c>.</summary>
    public string Source { get; set; } = "";

    /// <summary>Frame rate cap; 0 means uncapped.</summary>
    public double MaxFps { get; set; }

    /// <summary>Streaming or triggered inspection.</summary>
    public TriggerMode Trigger { get; set; } = TriggerMode.Stream;

    /// <summary>Region of interest cropped before inspection; empty means the whole frame.</summary>
    public RoiOptions Roi { get; set; } = new();

    /// <summary>Time without a frame after which the source is considered stalled and reopened.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Tampering alarm thresholds for this camera.</summary>
    public TamperingOptions Tampering { get; set; } = new();
}

/// <summary>A rectangle in pixels. Width or height 0 means no crop.</summary>
public sealed class RoiOptions
{
    /// <summary>Left edge.</summary>
    public int X { get; set; }

    /// <summary>Top edge.</summary>
    public int Y { get; set; }

    /// <summary>Width; 0 disables the crop.</summary>
    public int Width { get; set; }

    /// <summary>Height; 0 disables the crop.</summary>
    public int Height { get; set; }

    /// <summary>True when a crop is configured.</summary>
    public bool IsSet => Width > 0 && Height > 0;
}

/// <summary>Execution provider choice for ONNX Runtime.</summary>
public enum ModelProvider
{
    /// <summary>CUDA when the GPU runtime and a device are present, otherwise CPU.</summary>
    Auto,

    /// <summary>CUDA only; falls back to CPU with a log line when CUDA cannot start.</summary>
    Cuda,

    /// <summary>CPU only.</summary>
    Cpu,
}

/// <summary>Model packages and inference settings.</summary>
public sealed class ModelsOptions
{
    /// <summary>Folder holding <c>classifier/current</c> and <c>segmenter/current</c>.</summary>
    public string Directory { get; set; } = "/var/lib/inspection/models";

    /// <summary>Execution provider.</summary>
    public ModelProvider Provider { get; set; } = ModelProvider.Auto;

    /// <summary>Intra-op threads per session; 0 lets ONNX Runtime choose.</summary>
    public int Threads { get; set; }

    /// <summary>Watch the model folder and hot-swap when <c>current</c> changes.</summary>
    public bool Watch { get; set; } = true;
}

/// <summary>Queues and inspection policy.</summary>
public sealed class PipelineOptions
{
    /// <summary>Frames buffered per camera before the oldest is dropped.</summary>
    public int FrameQueueCapacity { get; set; } = 2;

    /// <summary>Results buffered between the inspector and the publisher.</summary>
    public int ResultQueueCapacity { get; set; } = 256;

    /// <summary>Skip segmentation when the classifier score is below <see cref="SkipSegmentationBelow"/>.</summary>
    public bool SkipSegmentationWhenGood { get; set; } = true;

    /// <summary>Classifier score under which a frame counts as confidently good (a fraction of the threshold when ≤ 1).</summary>
    public double SkipSegmentationBelow { get; set; } = 0.5;

    /// <summary>Smallest connected defect region kept, in pixels of the model's mask.</summary>
    public int MinRegionArea { get; set; } = 16;

    /// <summary>How long shutdown may take to drain in-flight frames and flush the outbox.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>Disk outbox for results the broker has not acknowledged.</summary>
public sealed class OutboxOptions
{
    /// <summary>Outbox folder.</summary>
    public string Directory { get; set; } = "/var/lib/inspection/outbox";

    /// <summary>Size cap; when reached the oldest non-defect results are dropped first (counted and logged).</summary>
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>The result journal (every numbered result, written before it is sent) is rewritten with only its
    /// unfinished results once it has grown past this size and at least half of it is done with.</summary>
    public long JournalBytes { get; set; } = 1024 * 1024;
}

/// <summary>Snapshots of inspected frames.</summary>
public sealed class SnapshotsOptions
{
    /// <summary>Snapshot folder; empty disables snapshots.</summary>
    public string Directory { get; set; } = "/var/lib/inspection/snapshots";

    /// <summary>Fraction of good frames also saved (0 = defects only).</summary>
    public double GoodSampleRate { get; set; }

    /// <summary>Most snapshots kept.</summary>
    public int MaxCount { get; set; } = 10_000;

    /// <summary>Most bytes kept.</summary>
    public long MaxBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Oldest snapshot kept.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(30);
}

/// <summary>MQTT-triggered inspections.</summary>
public sealed class InspectOptions
{
    /// <summary>Folders whose images an inspect request may name in <c>image_path</c>.</summary>
    public List<string> AllowedFolders { get; set; } = [];

    /// <summary>Largest image (width × height, from its header, checked before decoding) a request may name; the
    /// default takes an 8K frame (7680 × 4320), larger than any camera the daemon drives.</summary>
    public long MaxImagePixels { get; set; } = 7680L * 4320;
}

/// <summary>Retraining settings read by <c>trainer</c>.</summary>
public sealed class TrainerOptions
{
    /// <summary>Recall the chosen threshold must reach on held-out data.</summary>
    public double RecallTarget { get; set; } = 0.99;

    /// <summary>Seed for splits, augmentation and initialisation.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Fraction of the data held out for validation.</summary>
    public double ValidationFraction { get; set; } = 0.15;

    /// <summary>Fraction of the data held out for the final test.</summary>
    public double TestFraction { get; set; } = 0.15;

    /// <summary>CPU threads for training; 0 = all cores.</summary>
    public int Threads { get; set; }

    /// <summary>Defect classifier: the ImageNet-pretrained ResNet-18 fine-tuned (10 epochs), input size from the data (0).</summary>
    public TrainerTaskOptions Classifier { get; set; } = new() { Arch = "resnet18", ImageSize = 0, Epochs = 10 };

    /// <summary>Segmentation model: U-Net on the ImageNet-pretrained ResNet-18; decoder width 0.35 and batch 8 by default.</summary>
    public TrainerTaskOptions Segmenter { get; set; } = new() { Arch = "unet-resnet18", ImageSize = 256, BatchSize = 8, WidthMultiplier = 0.35 };
}

/// <summary>Training settings of one model.</summary>
public sealed class TrainerTaskOptions
{
    /// <summary>Dataset folder or labels file; empty skips this model.</summary>
    public string Data { get; set; } = "";

    /// <summary>Architecture name.</summary>
    public string Arch { get; set; } = "";

    /// <summary>Square input size in pixels; 0 (classifier only) chooses it from the data.</summary>
    public int ImageSize { get; set; } = 128;

    /// <summary>Training epochs.</summary>
    public int Epochs { get; set; } = 20;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; set; } = 32;

    /// <summary>Network width multiplier.</summary>
    public double WidthMultiplier { get; set; } = 0.5;
}
