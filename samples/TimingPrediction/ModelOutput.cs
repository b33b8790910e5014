using Microsoft.ML.Data;

namespace TimingPrediction;

/// <summary>What PreRoutGNN predicts for a pin (ns).</summary>
public sealed class ModelOutput
{
    /// <summary>Arrival time per corner: early rise, early fall, late rise, late fall.</summary>
    [ColumnName("PredictedArrival"), VectorType(4)]
    public float[] PredictedArrival { get; set; } = Array.Empty<float>();

    /// <summary>Worst late slack at a timing endpoint; NaN at other pins.</summary>
    [ColumnName("PredictedSlack")]
    public float PredictedSlack { get; set; }
}
