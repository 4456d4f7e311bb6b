using Inspection.Trainer.Export;
using TorchSharp;
using static TorchSharp.torch;

namespace Inspection.Trainer.Models;

/// <summary>The classifier architectures by the names the CLI, config and manifest use.</summary>
internal static class Architectures
{
    /// <summary>ResNet-18 of the ImageNet-trained package's shape (the default; fixed widths).</summary>
    public const string ResNet18 = "resnet18";

    /// <summary>MobileNetV2 with a width multiplier.</summary>
    public const string MobileNetV2 = "mobilenetv2";

    /// <summary>Small ResNet with batch norm.</summary>
    public const string ResNet = "resnet";

    /// <summary>U-Net with the ResNet-18 encoder (the default segmenter; ImageNet-pretrained).</summary>
    public const string UNetResNet18 = "unet-resnet18";

    /// <summary>U-Net with a MobileNetV2 encoder.</summary>
    public const string UNetMobileNetV2 = "unet-mobilenetv2";

    /// <summary>All segmenter names.</summary>
    public static IReadOnlyList<string> SegmenterNames { get; } = [UNetResNet18, UNetMobileNetV2];

    /// <summary>All classifier names.</summary>
    public static IReadOnlyList<string> ClassifierNames { get; } = [ResNet18, MobileNetV2, ResNet];

    /// <summary>
    /// Creates a classifier with one logit out and random weights; throws naming the known architectures for an unknown
    /// one. ResNet-18 has the pretrained network's fixed widths (the width multiplier does not apply to it).
    /// </summary>
    public static nn.Module<Tensor, Tensor> CreateClassifier(string arch, long inChannels, double widthMultiplier) => arch switch
    {
        ResNet18 => new ResNet18Classifier(inChannels),
        MobileNetV2 => new MobileNetV2Classifier(inChannels, widthMultiplier),
        ResNet => new SmallResNet(inChannels, widthMultiplier),
        _ => throw new ArgumentException($"unknown classifier architecture '{arch}' (known: {string.Join(", ", ClassifierNames)})"),
    };

    /// <summary>The module as exportable, or an error naming its type.</summary>
    public static IOnnxExportable Exportable(nn.Module<Tensor, Tensor> module) =>
        module as IOnnxExportable ?? throw new OnnxExportException($"{module.GetType().Name} does not implement IOnnxExportable");
}
