using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Inspection.Trainer.Training;

/// <summary>
/// What one kind of model brings to <see cref="TrainingLoop"/>: the network, its parameter groups, the loss of a
/// training batch and the validation figures. The loop owns everything else: order, schedule, guard, checkpoints.
/// </summary>
internal interface ITrainingTask
{
    /// <summary>The network being trained (already on its device).</summary>
    nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>The parameters to optimise, in groups with their own learning-rate factor and freezing; together all trainable parameters.</summary>
    IReadOnlyList<ParameterGroup> ParameterGroups { get; }

    /// <summary>Number of training samples; batches are index lists into them.</summary>
    int TrainCount { get; }

    /// <summary>Forward pass (augmentation included) and the scalar loss of one training batch; runs inside the loop's no-GC region and dispose scope.</summary>
    Tensor Loss(int[] batch, int epoch, int step);

    /// <summary>Validation in eval mode; each batch in its own no-GC region.</summary>
    ValidationFigures Validate();
}

/// <summary>A set of parameters that shares a learning-rate factor and freezing.</summary>
/// <param name="Name">Shown in messages and epoch records (e.g. <c>encoder</c>, <c>head</c>).</param>
/// <param name="Parameters">The parameters.</param>
internal sealed record ParameterGroup(string Name, IReadOnlyList<Parameter> Parameters)
{
    /// <summary>The group's learning rate is the schedule's times this (e.g. 0.1 for a pretrained backbone).</summary>
    public double LearningRateFactor { get; init; } = 1;

    /// <summary>Epochs at the start during which the group gets no gradients (int.MaxValue: always).</summary>
    public int FrozenEpochs { get; init; }

    /// <summary>Module of the group, put in eval mode while frozen so its batch norms keep their running statistics.</summary>
    public nn.Module? Module { get; init; }

    /// <summary>A group of all of <paramref name="module"/>'s parameters.</summary>
    public static ParameterGroup Of(string name, nn.Module module) => new(name, module.parameters().ToList()) { Module = module };

    /// <summary><paramref name="part"/>'s parameters as one group, and the rest of <paramref name="model"/>'s as another.</summary>
    public static (ParameterGroup Part, ParameterGroup Others) Split(nn.Module model, nn.Module part, string partName, string restName)
    {
        var inPart = part.parameters().Select(p => p.Handle).ToHashSet();
        return (Of(partName, part), new ParameterGroup(restName, model.parameters().Where(p => !inPart.Contains(p.Handle)).ToList()));
    }

    /// <summary>Whether the group is frozen in <paramref name="epoch"/> (from 1).</summary>
    public bool FrozenIn(int epoch) => epoch <= FrozenEpochs;

    /// <summary>
    /// Puts <paramref name="model"/> in train mode for <paramref name="epoch"/>, then each group frozen in it gets no
    /// gradients and its module goes to eval mode, so its batch norms keep their running statistics. Returns the frozen groups' names.
    /// </summary>
    public static IReadOnlyList<string> TrainMode(nn.Module model, IReadOnlyList<ParameterGroup> groups, int epoch)
    {
        model.train();
        var frozen = new List<string>();
        foreach (var group in groups)
        {
            var isFrozen = group.FrozenIn(epoch);
            foreach (var parameter in group.Parameters)
            {
                parameter.requires_grad = !isFrozen;
            }

            if (isFrozen)
            {
                group.Module?.eval();
                frozen.Add(group.Name);
            }
        }

        return frozen;
    }
}
