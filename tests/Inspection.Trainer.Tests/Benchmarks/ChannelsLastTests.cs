using Inspection.Trainer.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Tests.Benchmarks;

public sealed class ChannelsLastTests
{
    // `trainer bench --layout nhwc` must measure the same network on the same input, only laid out differently.
    [Fact]
    public void Channels_last_strides_keep_the_weights_the_input_and_the_convolution_output()
    {
        using var conv = nn.Conv2d(3, 8, 3, padding: 1);
        using var x = rand(2, 3, 16, 16);
        using var before = conv.forward(x);
        Assert.False(ChannelsLast.Is(conv.weight!));

        ChannelsLast.Apply(conv);
        using var nhwc = ChannelsLast.Of(x);
        using var after = conv.forward(nhwc);

        Assert.True(ChannelsLast.Is(conv.weight!), "weights keep NCHW strides");
        Assert.True(ChannelsLast.Is(nhwc), "input keeps NCHW strides");
        Assert.True(allclose(before, after, rtol: 1e-4, atol: 1e-5), "channels-last changed the convolution's output");
    }
}
