namespace OnnxDeploy;

/// <summary>One row for the ONNX graph's <c>Features</c> input, float [1, F].</summary>
public sealed class ModelInput
{
    public float[] Features { get; set; } = Array.Empty<float>();

    /// <summary>The true class index when the row comes from labelled data, otherwise null.</summary>
    public int? TrueClass { get; set; }
}
