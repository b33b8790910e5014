using Microsoft.ML.Data;

namespace MLNetExt.Samples;

/// <summary>One 28×28 Fashion-MNIST image as the app passes it to the model: 784 pixels in [0, 1], row by row.</summary>
public sealed class ModelInput
{
    [ColumnName("Features"), VectorType(784)]
    public float[] Features { get; set; } = Array.Empty<float>();

    /// <summary>The true class as ML.NET's 1-based key value (only read from the test data, not needed to predict).</summary>
    [ColumnName("Label")]
    public uint Label { get; set; }
}
