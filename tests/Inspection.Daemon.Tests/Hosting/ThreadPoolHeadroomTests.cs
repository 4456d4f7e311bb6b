using Inspection.Daemon.Hosting;

namespace Inspection.Daemon.Tests.Hosting;

public sealed class ThreadPoolHeadroomTests
{
    [Fact]
    public void Each_camera_gets_a_pool_thread_beyond_the_cores_so_inference_cannot_starve_the_mqtt_client()
    {
        ThreadPoolHeadroom.Reserve(12);

        ThreadPool.GetMinThreads(out var workers, out _);
        Assert.True(workers >= Environment.ProcessorCount + 12, $"minimum worker threads {workers}");
    }
}
