using System.Text.Json;
using Inspection.Daemon.Tests.Fixtures;
using Inspection.TestSupport;

namespace Inspection.Daemon.Tests;

/// <summary>The daemon against a real Mosquitto, with Mosquitto's own clients as the line controller and the consumer.</summary>
public sealed class MosquittoTests
{
    [RequiresToolFact("mosquitto", "mosquitto_sub", "mosquitto_pub")]
    public async Task Results_and_replies_reach_mosquitto_sub_and_the_status_is_retained()
    {
        using var temp = new TempDirectory("daemon-mosquitto");
        var port = Tools.FreePort();
        var brokerConfig = temp.Combine("mosquitto.conf");
        File.WriteAllText(brokerConfig, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
        using var broker = Tools.Start("mosquitto", ["-c", brokerConfig]);
        try
        {
            await WaitForPortAsync(port);
            await using var daemon = new DaemonUnderTest(temp, port);
            TinyOnnx.WriteCurrent(daemon.ModelsDir, "v1");
            await daemon.StartAsync();

            // A consumer that joins late still sees the retained status and models.
            var retained = Tools.RunIn(null, TimeSpan.FromSeconds(30), "mosquitto_sub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/status", "-t", $"{DaemonUnderTest.Root}/models", "-v", "-C", "2", "-W", "20");
            Assert.Contains($"{DaemonUnderTest.Root}/status online", retained, StringComparison.Ordinal);
            Assert.Contains("\"version\":\"v1\"", retained, StringComparison.Ordinal);

            using var consumer = Tools.Start("mosquitto_sub", ["-V", "mqttv5", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/+/result", "-t", "line/answers", "-F", "%t %D %p", "-C", "3", "-W", "30"]);
            var consumed = consumer.StandardOutput.ReadToEndAsync();
            await Task.Delay(500);
            var image = daemon.WriteImage("m.png", 240);
            Tools.Run("mosquitto_pub", "-V", "mqttv5", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/inspect",
                "-D", "publish", "response-topic", "line/answers", "-D", "publish", "correlation-data", "req-77",
                "-m", JsonSerializer.Serialize(new { part_id = "m-1", image_path = image }));
            Tools.Run("mosquitto_pub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/inspect", "-m", JsonSerializer.Serialize(new { part_id = "m-2", image_path = image }));

            Assert.True(consumer.WaitForExit(TimeSpan.FromSeconds(30)), "mosquitto_sub did not receive 3 messages");
            var lines = (await consumed).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, lines.Length);
            var answer = Assert.Single(lines, l => l.StartsWith("line/answers ", StringComparison.Ordinal));
            Assert.StartsWith("line/answers req-77 {", answer, StringComparison.Ordinal);
            Assert.Contains("\"part_id\":\"m-1\"", answer, StringComparison.Ordinal);
            var results = lines.Where(l => l.StartsWith($"{DaemonUnderTest.Root}/file/result ", StringComparison.Ordinal)).ToList();
            Assert.Equal(["m-1", "m-2"], results.Select(l => JsonDocument.Parse(l[(l.IndexOf('{', StringComparison.Ordinal))..]).RootElement.GetProperty("part_id").GetString()));

            await daemon.StopAsync();
            var status = Tools.RunIn(null, TimeSpan.FromSeconds(30), "mosquitto_sub", "-p", $"{port}", "-t", $"{DaemonUnderTest.Root}/status", "-C", "1", "-W", "10");
            Assert.Equal("offline", status.Trim());
        }
        finally
        {
            broker.Kill();
            await broker.WaitForExitAsync();
        }
    }

    private static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"mosquitto did not listen on {port}");
    }
}
