using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>How <see cref="LayerRegularization"/> suppresses the chosen layers.</summary>
public enum LayerRegularizationKind
{
    /// <summary>
    /// Adds weight · Σ_ℓ mean(MLP_outℓ²) over the chosen layers: their feed-forward outputs are pushed toward zero
    /// (the regulariser in the PragWorld authors' released fine-tuning code).
    /// </summary>
    MlpOutputPenalty,
    /// <summary>
    /// Makes the chosen layers' residual gates trainable and adds weight · Σ_ℓ |gateℓ|: a layer can be switched off as a
    /// whole when that does not hurt the task loss (our second strategy; the paper's is not public).
    /// </summary>
    LayerGatePenalty,
}

/// <summary>A layer regulariser for <see cref="TextTransformerEncoder"/> training (e.g. suppressing harmful layers).</summary>
public sealed class LayerRegularization
{
    /// <summary>The strategy.</summary>
    public LayerRegularizationKind Kind { get; init; } = LayerRegularizationKind.MlpOutputPenalty;
    /// <summary>0-based layers to suppress.</summary>
    public IReadOnlyList<int> Layers { get; init; } = Array.Empty<int>();
    /// <summary>Weight of the penalty in the loss.</summary>
    public double Weight { get; init; } = 1e-3;

    internal void Validate(int layerCount)
    {
        if (Layers.Count == 0) throw new ArgumentException("LayerRegularization.Layers is empty: name the layers to suppress.");
        foreach (var l in Layers)
            if (l < 0 || l >= layerCount) throw new ArgumentOutOfRangeException(nameof(Layers), l, $"Layer {l} does not exist; the encoder has layers 0..{layerCount - 1}.");
        if (!(Weight >= 0)) throw new ArgumentOutOfRangeException(nameof(Weight), Weight, "Weight must not be negative.");
    }

    /// <summary>Prepares <paramref name="encoder"/> (captures MLP outputs or unfreezes gates) and returns the penalty of its last forward pass.</summary>
    public Tensor Penalty(TextTransformerEncoder encoder)
    {
        var layers = encoder.EncoderLayers;
        if (Kind == LayerRegularizationKind.LayerGatePenalty)
            return Layers.Select(l => layers[l].Gate.abs().sum()).Aggregate((a, b) => a + b) * Weight;
        var outputs = Layers.Select(l => layers[l].LastMlpOutput
            ?? throw new InvalidOperationException($"Layer {l}'s MLP output was not captured; call Prepare before the forward pass.")).ToList();
        return outputs.Select(o => o.pow(2).mean()).Aggregate((a, b) => a + b) * Weight;
    }

    /// <summary>Switches on what the penalty needs on <paramref name="encoder"/>: MLP capture, or trainable gates.</summary>
    public void Prepare(TextTransformerEncoder encoder)
    {
        foreach (var l in Layers)
        {
            var layer = encoder.EncoderLayers[l];
            if (Kind == LayerRegularizationKind.MlpOutputPenalty) layer.CaptureMlp = true;
            else layer.Gate.requires_grad = true;
        }
    }

    /// <summary>The penalty value for the current state (gates) or last forward pass (MLP outputs), as a number.</summary>
    public double Value(TextTransformerEncoder encoder)
    {
        using var _ = no_grad();
        return Penalty(encoder).item<float>();
    }
}
