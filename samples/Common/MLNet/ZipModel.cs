using Microsoft.ML;

namespace MLNetExt.Samples;

/// <summary>The consumption step of every sample: load a saved ML.NET zip in a new MLContext and predict one row.</summary>
public static class ZipModel
{
    /// <summary>Loads <paramref name="zipPath"/> and predicts <paramref name="input"/> with a PredictionEngine.</summary>
    public static TOutput Predict<TInput, TOutput>(string zipPath, TInput input) where TInput : class where TOutput : class, new()
    {
        var ml = new MLContext();
        var model = ml.Model.Load(zipPath, out _);
        using var engine = ml.Model.CreatePredictionEngine<TInput, TOutput>(model);
        return engine.Predict(input);
    }
}
