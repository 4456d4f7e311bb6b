using System.Diagnostics.CodeAnalysis;
using Inspection.Trainer.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Benchmarks;

/// <summary>
/// Multiply-accumulates of one forward pass per image, counted from the shapes each convolution and linear layer sees
/// (forward hooks on one eval-mode pass). Everything else (batch norm, activations, pooling, additions) is a few percent
/// of a convolutional network and is left out. ResNet-18 at 224×224 (3 channels): 1.82 G.
/// </summary>
internal static class MacCounter
{
    /// <summary>Forward multiply-accumulates per image for input [1, channels, height, width].</summary>
    [SuppressMessage("IDisposableAnalyzers.Correctness", "IDISP004:Don't ignore created IDisposable", Justification = TorchOwnership.DisposeScope)]
    public static double Count(nn.Module<Tensor, Tensor> model, long channels, long height, long width)
    {
        double macs = 0;
        var removers = new List<Action>();
        foreach (var module in model.modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    var c = conv.register_forward_hook((m, input, output) =>
                    {
                        var w = conv.weight!.shape; // [out, in/groups, kh, kw]
                        macs += (double)output.numel() * w[1] * w[2] * w[3];
                        return output;
                    });
                    removers.Add(c.remove);
                    break;
                case ConvTranspose2d deconv:
                    var d = deconv.register_forward_hook((m, input, output) =>
                    {
                        var w = deconv.weight!.shape; // [in, out/groups, kh, kw]
                        macs += (double)input.numel() * w[1] * w[2] * w[3];
                        return output;
                    });
                    removers.Add(d.remove);
                    break;
                case Linear linear:
                    var l = linear.register_forward_hook((m, input, output) =>
                    {
                        macs += (double)output.numel() * linear.weight!.shape[1];
                        return output;
                    });
                    removers.Add(l.remove);
                    break;
            }
        }

        var wasTraining = model.training;
        model.eval();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            model.forward(zeros(1, channels, height, width, device: model.parameters().First().device));
        }

        removers.ForEach(remove => remove());
        if (wasTraining)
        {
            model.train();
        }

        return macs;
    }
}
