using Microsoft.ML.Data;

namespace MLNetExt.Samples;

/// <summary>What the model adds to a row, named as ML.NET's multiclass trainers name it.</summary>
public sealed class ModelOutput
{
    /// <summary>The predicted class as a 1-based key value (1 = the first class name).</summary>
    [ColumnName("PredictedLabel")]
    public uint PredictedLabel { get; set; }

    /// <summary>The probability of each class, in class order.</summary>
    [ColumnName("Score")]
    public float[] Score { get; set; } = Array.Empty<float>();
}
