using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Benchmarks;

/// <summary>
/// Channels-last (NHWC) strides for 4-D tensors. TorchSharp 0.107 has no <c>memory_format</c> argument on
/// <c>to</c>/<c>contiguous</c>, but libtorch picks a convolution's layout from its operands' strides, so a permuted,
/// contiguous copy viewed back as NCHW is a channels-last tensor to it.
/// </summary>
internal static class ChannelsLast
{
    /// <summary>The same values with NHWC strides (other ranks unchanged, as a new reference).</summary>
    public static Tensor Of(Tensor t) => t.dim() == 4 ? t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : t.alias();

    /// <summary>Gives every 4-D parameter of <paramref name="module"/> NHWC strides in place (values kept).</summary>
    public static void Apply(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach (var p in module.parameters().Where(p => p.dim() == 4))
        {
            using var scope = torch.NewDisposeScope();
            p.set_(Of(p));
        }
    }

    /// <summary>True when <paramref name="t"/> is 4-D with NHWC strides.</summary>
    public static bool Is(Tensor t) => t.dim() == 4 && t.stride(1) == 1 && t.stride(3) == t.shape[1];
}
