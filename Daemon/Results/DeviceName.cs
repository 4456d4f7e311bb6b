using Inspection.Config.Options;

namespace Inspection.Daemon.Results;

/// <summary>The name results and topics carry: <c>Mqtt:Device</c>, or the host name when it is empty.</summary>
internal static class DeviceName
{
    public static string Of(MqttOptions options) => options.Device.Length > 0 ? options.Device : System.Net.Dns.GetHostName();
}
