using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Bridges TorchSharp modules to <see cref="OnnxGraphBuilder"/>: weights are copied as they are (same layouts).</summary>
public static class TorchOnnxExtensions
{
    /// <summary>The values of <paramref name="tensor"/> as a CPU float array (row-major).</summary>
    public static float[] ToFloatArray(this Tensor tensor)
    {
        using var cpu = tensor.detach().to(CPU).to(ScalarType.Float32).contiguous();
        return cpu.data<float>().ToArray();
    }

    /// <summary>Adds a TorchSharp <see cref="Linear"/> layer applied to [N, in] input <paramref name="x"/> (Gemm).</summary>
    public static string Linear(this OnnxGraphBuilder graph, string x, Linear layer, string? prefix = null)
    {
        var w = layer.weight!;
        return graph.Linear(x, w.ToFloatArray(), layer.bias is null ? ReadOnlySpan<float>.Empty : layer.bias.ToFloatArray(),
            (int)w.shape[0], (int)w.shape[1], prefix);
    }

    /// <summary>Adds a TorchSharp <see cref="Linear"/> layer applied on the last axis of an input of any rank (MatMul + Add).</summary>
    public static string LinearNd(this OnnxGraphBuilder graph, string x, Linear layer, string? prefix = null)
    {
        var w = layer.weight!;
        return graph.LinearNd(x, w.ToFloatArray(), layer.bias is null ? ReadOnlySpan<float>.Empty : layer.bias.ToFloatArray(),
            (int)w.shape[0], (int)w.shape[1], prefix);
    }

    /// <summary>Adds a float constant holding <paramref name="tensor"/>'s current values (e.g. an input-independent kernel).</summary>
    public static string Constant(this OnnxGraphBuilder graph, string name, Tensor tensor)
        => graph.AddInitializer(graph.Unique(name), tensor.ToFloatArray(), tensor.shape);
}
