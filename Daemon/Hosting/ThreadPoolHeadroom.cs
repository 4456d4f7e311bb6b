namespace Inspection.Daemon.Hosting;

/// <summary>
/// Each camera's inspection runs ONNX Runtime synchronously on a thread-pool thread, tens of milliseconds per frame.
/// With as many cameras as cores those calls hold every pool thread, and the MQTT client's continuations (PUBACKs,
/// keep-alives) and the publisher wait until the pool adds a thread, which it does about twice a second: measured as a
/// 1.5-2 s p95 publish latency with 2 cameras on 2 cores. Raising the pool's minimum by one thread per camera lets it
/// add those threads at once.
/// </summary>
internal static class ThreadPoolHeadroom
{
    /// <summary>Makes room for <paramref name="blockingWorkers"/> pool threads busy in long synchronous calls.</summary>
    public static void Reserve(int blockingWorkers)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = Environment.ProcessorCount + blockingWorkers + 2;
        if (workers < wanted)
        {
            ThreadPool.SetMinThreads(wanted, io);
        }
    }
}
