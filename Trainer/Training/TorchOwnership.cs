namespace Inspection.Trainer.Training;

/// <summary>
/// Why IDisposableAnalyzers is silenced where TorchSharp, not the code, owns what it flags; used as the justification of
/// those suppressions (docs/architecture.md, "Build guard").
/// </summary>
internal static class TorchOwnership
{
    /// <summary>Temporaries inside a dispose scope.</summary>
    public const string DisposeScope = "Tensors made here belong to the TorchSharp dispose scope this method opens (NewDisposeScope), which frees them; what is kept is moved out of it.";

    /// <summary>Temporaries of a forward or loss function.</summary>
    public const string CallerScope = "Tensors made here belong to the dispose scope of the caller (every training step and forward pass opens one).";

    /// <summary>A module's submodules.</summary>
    public const string Submodules = "Submodules registered with RegisterComponents belong to the module; Module.Dispose frees them.";

    /// <summary>The value of torch.manual_seed.</summary>
    public const string DefaultGenerator = "manual_seed returns the process-wide default generator, which must stay alive.";

    /// <summary>The value of optimizer.step() without a closure.</summary>
    public const string StepResult = "optimizer.step() returns the closure's loss; without a closure there is none to dispose.";
}
