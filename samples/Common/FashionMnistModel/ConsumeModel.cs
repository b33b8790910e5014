using Microsoft.ML.OnnxRuntime;

namespace MLNetExt.Samples;

/// <summary>
/// How an app uses the trained model, apart from training: load the ML.NET zip and predict one row with a
/// <see cref="PredictionEngine{TSrc, TDst}"/>, or load the .onnx file with ONNX Runtime (no ML.NET needed there).
/// </summary>
public static class ConsumeModel
{
    /// <summary>Loads <paramref name="zipPath"/> in a new MLContext and predicts <paramref name="input"/>.</summary>
    public static ModelOutput PredictWithZip(string zipPath, ModelInput input)
        => ZipModel.Predict<ModelInput, ModelOutput>(zipPath, input);

    /// <summary>Scores <paramref name="input"/> with the ONNX file: class probabilities, the 0-based class and its name.</summary>
    public static (float[] Score, int ClassIndex, string? ClassName) PredictWithOnnx(string onnxPath, ModelInput input)
    {
        using var session = new InferenceSession(onnxPath);
        var outputs = OnnxScoring.Score(session, input.Features, rows: 1);
        int index = (int)outputs["PredictedLabel"][0];
        var names = OnnxScoring.ClassNames(session);
        return (outputs["Score"], index, names is not null && index >= 0 && index < names.Length ? names[index] : null);
    }
}
