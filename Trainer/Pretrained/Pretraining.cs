using Inspection.Trainer.Models;
using Inspection.Trainer.Training;

namespace Inspection.Trainer.Pretrained;

/// <summary>The <c>--pretrained</c> choice and the fine-tuning schedule that goes with it.</summary>
internal static class Pretraining
{
    /// <summary>The ImageNet-trained ResNet-18 (<see cref="PretrainedFiles"/>).</summary>
    public const string ImageNet = "imagenet";

    /// <summary>Random initialisation.</summary>
    public const string None = "none";

    /// <summary>Where the weights come from, for messages and the manifest.</summary>
    public const string Source = "NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1";

    /// <summary>Epochs of the head-only phase before the whole network fine-tunes.</summary>
    public const int HeadEpochs = 1;

    /// <summary>The backbone's learning rate relative to the head's while fine-tuning.</summary>
    public const double BackboneFactor = 0.1;

    /// <summary>True for imagenet; null picks imagenet for the architectures that have pretrained weights.</summary>
    public static bool Resolve(string arch, string? pretrained, string pretrainedArch = Architectures.ResNet18)
    {
        var choice = pretrained ?? (arch == pretrainedArch ? ImageNet : None);
        return choice switch
        {
            ImageNet when arch == pretrainedArch => true,
            ImageNet => throw new ArgumentException($"--pretrained imagenet: there are ImageNet weights for --arch {pretrainedArch} only, not {arch} (use --pretrained none)"),
            None => false,
            _ => throw new ArgumentException($"--pretrained must be {ImageNet} or {None} (got '{choice}')"),
        };
    }

    /// <summary>
    /// With a pretrained backbone: the head alone first (backbone frozen, its batch-norm statistics kept), then
    /// everything with the backbone at a tenth of the learning rate, so the first large gradients of a random head do not
    /// wreck the pretrained features.
    /// </summary>
    public static IReadOnlyList<ParameterGroup> FineTuningGroups(ResNet18Classifier model, int epochs)
    {
        var (backbone, head) = ParameterGroup.Split(model, model.Backbone, "backbone", "head");
        return [backbone with { LearningRateFactor = BackboneFactor, FrozenEpochs = Math.Min(HeadEpochs, epochs - 1) }, head];
    }
}
