using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MLNetExt;

/// <summary>Runs an ONNX model and compares its outputs with reference outputs (e.g. the TorchSharp forward pass).</summary>
public static class OnnxParity
{
    /// <summary>Runs <paramref name="session"/> on float inputs and returns each requested float output as (data, shape).</summary>
    public static IReadOnlyDictionary<string, (float[] Data, int[] Shape)> Run(InferenceSession session,
        IReadOnlyDictionary<string, (float[] Data, int[] Shape)> inputs, params string[] outputNames)
    {
        var feeds = inputs.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.Data, kv.Value.Shape))).ToList();
        using var results = outputNames.Length == 0 ? session.Run(feeds) : session.Run(feeds, outputNames);
        var outputs = new Dictionary<string, (float[], int[])>();
        foreach (var r in results)
        {
            // Integer outputs (e.g. PredictedLabel) are returned as floats so one comparison serves every output.
            outputs[r.Name] = r.ElementType switch
            {
                TensorElementType.Float => (r.AsTensor<float>().ToArray(), r.AsTensor<float>().Dimensions.ToArray()),
                TensorElementType.Int64 => (r.AsTensor<long>().ToArray().Select(v => (float)v).ToArray(), r.AsTensor<long>().Dimensions.ToArray()),
                TensorElementType.Int32 => (r.AsTensor<int>().ToArray().Select(v => (float)v).ToArray(), r.AsTensor<int>().Dimensions.ToArray()),
                _ => throw new NotSupportedException($"ONNX output '{r.Name}' has element type {r.ElementType}; only float, int32 and int64 outputs are compared."),
            };
        }
        return outputs;
    }

    /// <summary>Largest absolute difference between two equally long arrays (NaN counts as infinitely different).</summary>
    public static double MaxAbsDifference(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"Output sizes differ: ONNX gave {actual.Length} values, the reference {expected.Length}.");
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            if (d > max) max = d;
        }
        return max;
    }

    /// <summary>
    /// Runs the model at <paramref name="modelPath"/> on one float input and returns the max absolute difference
    /// of output <paramref name="outputName"/> against <paramref name="expected"/>.
    /// </summary>
    public static double Compare(string modelPath, string inputName, float[] input, int[] inputShape, string outputName, ReadOnlySpan<float> expected)
    {
        using var session = OnnxSessionFactory.Create(modelPath);
        var outputs = Run(session, new Dictionary<string, (float[], int[])> { [inputName] = (input, inputShape) }, outputName);
        return MaxAbsDifference(outputs[outputName].Data, expected);
    }
}
