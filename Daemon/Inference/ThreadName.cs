using System.Runtime.InteropServices;

namespace Inspection.Daemon.Inference;

/// <summary>Gives the native threads a library starts a name: Linux threads inherit their creator's name, so the
/// creating thread takes the name for the call and gets its own back afterwards. ONNX Runtime starts its intra-op
/// workers when a session is made and names them nothing of its own; named, they show as such in <c>top -H</c> and in
/// <c>inspectiond bench</c>'s CPU split.</summary>
internal static partial class ThreadName
{
    /// <summary>The name ONNX Runtime's worker threads get.</summary>
    public const string OnnxWorkers = "onnxruntime";

    private const int SetName = 15; // PR_SET_NAME
    private const int GetName = 16; // PR_GET_NAME

    /// <summary>Runs <paramref name="create"/> with the calling thread named <paramref name="name"/>, so the threads it
    /// starts carry that name; on other systems it only runs it.</summary>
    public static T While<T>(string name, Func<T> create)
    {
        if (!OperatingSystem.IsLinux())
        {
            return create();
        }

        var own = new byte[16];
        if (Prctl(GetName, own) != 0)
        {
            return create();
        }

        var named = new byte[16];
        System.Text.Encoding.ASCII.GetBytes(name.AsSpan(0, Math.Min(name.Length, 15)), named);
        Prctl(SetName, named);
        try
        {
            return create();
        }
        finally
        {
            Prctl(SetName, own);
        }
    }

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, [In, Out] byte[] name);
}
