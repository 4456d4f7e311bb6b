using System.Text.Json.Nodes;

namespace Inspection.Daemon.Hosting;

/// <summary>A part of the daemon that reports its counters in the <c>stats</c> message (and the console's
/// <c>/api/stats</c>). Each part writes its own fields; the stats publisher adds the device, the time and the uptime
/// and asks the parts in the order they are registered (Publishing/PublishingServices.cs; docs/mqtt.md lists the fields).</summary>
internal interface IStatsSource
{
    /// <summary>Adds this part's current figures to <paramref name="stats"/>; called from any thread.</summary>
    void AddStats(JsonObject stats);
}
