namespace OnnxDeploy;

/// <summary>A classifier's outputs for one row: <c>Score</c> (probabilities) and <c>PredictedLabel</c> (0-based, −1 = none).</summary>
public sealed class ModelOutput
{
    public float[] Score { get; set; } = Array.Empty<float>();
    public long PredictedLabel { get; set; }
}
