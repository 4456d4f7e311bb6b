using System.Text.Json;
using Inspection.Config.Options;
using Inspection.Daemon.Tampering;
using Inspection.TestSupport;
using OpenCvSharp;

namespace Inspection.Daemon.Tests.OperatorConsole;

/// <summary>Tampering: clips made with ffmpeg that turn dark, blurred or shifted half-way raise the matching alarm; the
/// unmodified clip (and the synthetic source) raise none; in the daemon the alarm is retained on MQTT while it lasts,
/// cleared after, counted and stamped on the camera's results.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class TamperingTests(ConsoleDaemon fixture)
{
    [RequiresToolTheory("ffmpeg")]
    [InlineData(null, null)]
    [InlineData(Clips.Darkened, TamperDetector.Covered)]
    [InlineData(Clips.Blurred, TamperDetector.Defocused)]
    [InlineData(Clips.Shifted, TamperDetector.Moved)]
    public void A_clip_modified_half_way_raises_the_matching_alarm_and_the_unmodified_clip_none(string? filter, string? expected)
    {
        var path = filter is null
            ? Clips.Make(fixture.Temp.Combine("plain.mp4"), "null", seconds: 6)
            : Clips.Make(fixture.Temp.Combine($"{expected}.mp4"), filter, seconds: 6, modifiedFrom: 3);
        var alarms = Alarms(ReadFrames(path));
        Assert.Equal(expected is null ? [] : [expected], alarms.Distinct());
        if (expected is not null)
        {
            Assert.True(alarms.Count >= 20, $"alarm held for {alarms.Count} of the 30 modified frames");
        }
    }

    [Fact]
    public void The_synthetic_source_raises_no_alarm()
    {
        var frames = Enumerable.Range(0, 60).Select(i =>
        {
            var (image, mask, _) = Inspection.Camera.Sources.SyntheticScene.Render(320, 240, seed: 5, frameNumber: i, defectRate: 0.5);
            mask.Dispose();
            return image;
        });
        Assert.Empty(Alarms(frames));
    }

    [Fact]
    public async Task The_daemon_publishes_the_alarm_retained_while_it_lasts_clears_it_after_and_flags_the_results()
    {
        var topic = $"{DaemonUnderTest.Root}/tamper/alarm";
        var raised = await fixture.Probe.WaitForAsync(topic, m => !string.IsNullOrEmpty(MqttProbe.Text(m)), seconds: 30);
        var alarm = MqttProbe.Json(raised[0]);
        Assert.Equal("covered", alarm.GetProperty("alarm").GetString());
        Assert.Equal("tamper", alarm.GetProperty("camera").GetString());

        // A client that subscribes while the alarm lasts gets it at once: it is retained. (The clip loops, so the alarm
        // comes and goes every 6 s: subscribe while the console shows it, and try the next cycle if it ended meanwhile.)
        var retained = false;
        for (var attempt = 0; attempt < 3 && !retained; attempt++)
        {
            await fixture.WaitForJsonAsync("/api/cameras", c => c[1].GetProperty("alarm").ValueKind == JsonValueKind.String);
            await using var late = await MqttProbe.ConnectAsync(fixture.Broker.Port, topic);
            var first = (await late.WaitForAsync(topic, seconds: 8))[0];
            retained = first.Retain && !string.IsNullOrEmpty(MqttProbe.Text(first));
        }

        Assert.True(retained, "a late subscriber never got the active alarm as a retained message");

        var flagged = await fixture.Probe.WaitForAsync($"{DaemonUnderTest.Root}/tamper/result", m => MqttProbe.Json(m).GetProperty("alarm").GetString() == "covered");
        Assert.NotEmpty(flagged);

        // The clip loops back to the normal picture: the retained alarm is removed (an empty retained payload, which
        // can only follow a raised alarm).
        await fixture.Probe.WaitForAsync(topic, m => string.IsNullOrEmpty(MqttProbe.Text(m)), seconds: 30);
        Assert.Contains("inspection_tamper_alarms_total{camera=\"tamper\",kind=\"covered\"}", await fixture.Http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Probe.On($"{DaemonUnderTest.Root}/line/alarm"), _ => true);
    }

    private static List<string> Alarms(IEnumerable<Mat> frames)
    {
        using var detector = new TamperDetector(new TamperingOptions());
        var alarms = new List<string>();
        foreach (var frame in frames)
        {
            using (frame)
            {
                detector.Check(frame);
                if (detector.Alarm is { } alarm)
                {
                    alarms.Add(alarm);
                }
            }
        }

        return alarms;
    }

    private static List<Mat> ReadFrames(string path)
    {
        using var video = new VideoCapture(path);
        var frames = new List<Mat>();
        while (true)
        {
            var frame = new Mat();
            if (!video.Read(frame) || frame.Empty())
            {
                frame.Dispose();
                return frames;
            }

            frames.Add(frame);
        }
    }
}
