namespace MLNetExt;

/// <summary>
/// One worker's model and inner optimizer, seen by the distributed coordinator as a flat float vector.
/// </summary>
/// <remarks>
/// The order of the flat vector must be the same on every rank (e.g. a module's parameters in declaration order).
/// <see cref="TorchModuleLearner"/> implements it for a TorchSharp module.
/// </remarks>
public interface IInnerLearner
{
    /// <summary>Number of trainable floats.</summary>
    int ParameterCount { get; }

    /// <summary>Copies the parameters into <paramref name="destination"/> (length ≥ <see cref="ParameterCount"/>).</summary>
    void CopyParametersTo(Span<float> destination);

    /// <summary>Overwrites the parameters from <paramref name="source"/> (length ≥ <see cref="ParameterCount"/>).</summary>
    void CopyParametersFrom(ReadOnlySpan<float> source);

    /// <summary>
    /// Computes the loss of local step <paramref name="step"/> (the learner picks that step's batch of its data shard)
    /// and leaves its gradients in the model; returns the loss.
    /// </summary>
    float ComputeGradients(long step);

    /// <summary>Copies the gradients of the last <see cref="ComputeGradients"/> into <paramref name="destination"/>.</summary>
    void CopyGradientsTo(Span<float> destination);

    /// <summary>Overwrites the gradients (e.g. with their average over ranks) from <paramref name="source"/>.</summary>
    void CopyGradientsFrom(ReadOnlySpan<float> source);

    /// <summary>Applies one inner optimizer step (e.g. AdamW) with the current gradients.</summary>
    void ApplyOptimizerStep();

    /// <summary>Writes the inner optimizer's state (moments, step counts) for a checkpoint.</summary>
    void SaveOptimizerState(BinaryWriter writer);

    /// <summary>Restores the inner optimizer's state written by <see cref="SaveOptimizerState"/>.</summary>
    void LoadOptimizerState(BinaryReader reader);
}
