using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests;

internal static class TestModels
{
    /// <summary>Gives every batch norm non-trivial statistics and affine parameters, so folding them is really tested.</summary>
    public static void RandomiseBatchNorm(nn.Module model, int seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var bn in model.modules().OfType<BatchNorm2d>())
        {
            var n = bn.running_mean!.shape[0];
            bn.running_mean.copy_(randn(n, generator: generator) * 0.3);
            bn.running_var!.copy_(rand(n, generator: generator) + 0.5);
            bn.weight!.copy_(rand(n, generator: generator) + 0.5);
            bn.bias!.copy_(randn(n, generator: generator) * 0.2);
        }
    }
}
