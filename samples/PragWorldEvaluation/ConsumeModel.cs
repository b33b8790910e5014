using Microsoft.ML.OnnxRuntime;
using MLNetExt;
using MLNetExt.Samples;

namespace PragWorldEvaluation;

/// <summary>
/// How an app uses the trained conversation model, apart from training: the ML.NET zip through a PredictionEngine
/// (<see cref="ZipModel"/>), or the .onnx file through ONNX Runtime, which takes token ids: the model's own tokenizer encodes the texts first.
/// </summary>
public static class ConsumeModel
{
    /// <summary>The probability of "yes" from the ONNX file, the texts encoded by <paramref name="model"/>'s tokenizer.</summary>
    public static float PredictWithOnnx(string onnxPath, TextTransformerBinaryTransformer model, ModelInput input)
    {
        var text = model.Text.TextOf(column => column == "Conversation" ? input.Conversation : input.Question);
        var ids = new float[model.Text.Width];
        model.Tokenizer.Encode(text, ids);
        using var session = new InferenceSession(onnxPath);
        return OnnxScoring.Score(session, ids, rows: 1)["Probability"][0];
    }
}
