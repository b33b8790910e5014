using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MLNetExt.Samples;

/// <summary>Scores float feature rows with an .onnx file exported by <c>SaveAsOnnx</c> (input <c>Features</c> [N, F]).</summary>
public static class OnnxScoring
{
    /// <summary>
    /// The outputs (by name, flattened to floats) of <paramref name="session"/> for <paramref name="rows"/> rows of
    /// <paramref name="features"/>, fed to <paramref name="input"/> (default: the graph's only input).
    /// </summary>
    public static Dictionary<string, float[]> Score(InferenceSession session, float[] features, int rows, string? input = null)
    {
        input ??= session.InputMetadata.Keys.Single();
        int width = features.Length / rows;
        var feed = new[] { NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(features, new[] { rows, width })) };
        using var results = session.Run(feed);
        return results.ToDictionary(r => r.Name, r => r.Value switch
        {
            Tensor<float> f => f.ToArray(),
            Tensor<long> l => l.ToArray().Select(v => (float)v).ToArray(),
            Tensor<bool> b => b.ToArray().Select(v => v ? 1f : 0f).ToArray(),
            _ => throw new NotSupportedException($"Output '{r.Name}' has element type {r.ElementType}; expected float, int64 or bool."),
        });
    }

    /// <summary>The class names the model carries in its <c>mlnetext.class_names</c> metadata, or null.</summary>
    public static string[]? ClassNames(InferenceSession session) =>
        session.ModelMetadata.CustomMetadataMap.TryGetValue("mlnetext.class_names", out var json) ? JsonSerializer.Deserialize<string[]>(json) : null;
}
