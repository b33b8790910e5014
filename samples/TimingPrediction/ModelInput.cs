using Microsoft.ML.Data;

namespace TimingPrediction;

/// <summary>One pin to predict: the timing graph file of its design (written by <c>CircuitDataset</c>) and the pin's name.</summary>
public sealed class ModelInput
{
    [ColumnName("GraphPath")]
    public string GraphPath { get; set; } = "";

    [ColumnName("Pin")]
    public string Pin { get; set; } = "";
}
