using Inspection.Config.Options;
using Inspection.Daemon.Results;

namespace Inspection.Daemon.Publishing;

/// <summary>The daemon's topic tree, <c>{prefix}/{device}/…</c> (docs/mqtt.md).</summary>
internal sealed class Topics
{
    public Topics(MqttOptions options)
    {
        Device = DeviceName.Of(options);
        Root = $"{options.TopicPrefix}/{Device}";
        ClientId = options.ClientId.Length > 0 ? options.ClientId : $"inspectiond-{Device}";
        SharedInspect = options.SharedInspectTopic.Length > 0 ? options.SharedInspectTopic : null;
        SharedInspectFilter = SharedInspect is null ? null : $"$share/{options.ShareGroup}/{SharedInspect}";
        ResponseTopicPrefixes = options.ResponseTopicPrefixes.Count > 0 ? [.. options.ResponseTopicPrefixes]
            : SharedInspect?.LastIndexOf('/') is > 0 and var slash ? [$"{Root}/replies/", $"{SharedInspect[..slash]}/replies/"]
            : [$"{Root}/replies/"];
    }

    /// <summary>Where MQTT 5 response topics may point (Mqtt:ResponseTopicPrefixes, by default the reply trees).</summary>
    public IReadOnlyList<string> ResponseTopicPrefixes { get; }

    /// <summary>Why the daemon will not answer on <paramref name="topic"/>, or null when it may: a response topic must be
    /// plain, lie under an allowed prefix and not be one of the daemon's own topics (an answer there would act as a
    /// command, a request or a result of this device).</summary>
    public string? RefuseResponseTopic(string topic)
    {
        var levels = topic.StartsWith(Root + "/", StringComparison.Ordinal) ? topic[(Root.Length + 1)..].Split('/') : null;
        var own = topic == Root || topic == SharedInspect || levels is ["status" or "stats" or "models" or "inspect"] or ["cmd", ..] or [_, "result" or "defect"];
        return topic.Length == 0 || topic.IndexOfAny(['+', '#']) >= 0 || topic.StartsWith('$') ? $"response topic '{topic}' is not a plain topic"
            : own ? $"response topic '{topic}' is one of the daemon's own topics"
            : !ResponseTopicPrefixes.Any(p => topic.StartsWith(p, StringComparison.Ordinal)) ? $"response topic '{topic}' is outside the allowed prefixes ({string.Join(", ", ResponseTopicPrefixes)}; Mqtt:ResponseTopicPrefixes)"
            : null;
    }

    public string Device { get; }

    public string ClientId { get; }

    public string Root { get; }

    public string Status => $"{Root}/status";

    public string Stats => $"{Root}/stats";

    public string Models => $"{Root}/models";

    public string Inspect => $"{Root}/inspect";

    /// <summary>The request topic several daemons share (Mqtt:SharedInspectTopic), or null.</summary>
    public string? SharedInspect { get; }

    /// <summary>The shared subscription for <see cref="SharedInspect"/>, <c>$share/{group}/{topic}</c>, or null.</summary>
    public string? SharedInspectFilter { get; }

    /// <summary>True for the daemon's own inspect topic and the shared one. The broker delivers a shared-subscription
    /// message under its real topic, not the <c>$share/…</c> filter, so that is what is matched.</summary>
    public bool IsInspect(string topic) => topic == Inspect || topic == SharedInspect;

    public string Commands => $"{Root}/cmd/+";

    public string CommandReply => $"{Root}/cmd/reply";

    public string Result(string camera) => $"{Root}/{camera}/result";

    public string Defect(string camera) => $"{Root}/{camera}/defect";

    /// <summary>The command name of a <c>{root}/cmd/NAME</c> topic, or null when the topic is not one.</summary>
    public string? CommandName(string topic) =>
        topic.StartsWith(Root + "/cmd/", StringComparison.Ordinal) ? topic[(Root.Length + 5)..] : null;
}
