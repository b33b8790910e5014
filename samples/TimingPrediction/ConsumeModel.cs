using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetExt;
using MLNetExt.Samples;

namespace TimingPrediction;

/// <summary>
/// How an app uses the trained model, apart from training: the ML.NET zip through a PredictionEngine (one pin at a
/// time, <see cref="ZipModel"/>), or the .onnx file through ONNX Runtime (the whole design's graph arrays in, every pin's timing out).
/// </summary>
public static class ConsumeModel
{
    /// <summary>The ONNX file's arrival times [pins × 4] for the design in <paramref name="input"/>, and the row of its pin.</summary>
    public static float[] PredictArrivalWithOnnx(string onnxPath, PreRoutGnnArchitecture architecture, ModelInput input)
    {
        var graph = TimingGraphFile.Load(input.GraphPath);
        int pin = Array.IndexOf(graph.PinNames, input.Pin);
        if (pin < 0) throw new ArgumentException($"Pin '{input.Pin}' is not in {input.GraphPath}.");
        var inputs = PreRoutGnnOnnxInputs.From(graph, architecture);
        static int[] Dims(long[] shape) => shape.Select(d => (int)d).ToArray();
        var feeds = inputs.Floats.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.Data, Dims(kv.Value.Shape))))
            .Concat(inputs.Longs.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<long>(kv.Value.Data, Dims(kv.Value.Shape))))).ToList();
        using var session = new InferenceSession(onnxPath);
        using var results = session.Run(feeds);
        var arrival = results.Single(r => r.Name == "arrival").AsEnumerable<float>().ToArray();
        return arrival.AsSpan(pin * 4, 4).ToArray();
    }
}
