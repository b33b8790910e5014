using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// A list of parameters seen as one flat float vector (in list order) — how distributed and federated training exchange
/// models. Reads and writes go straight to CPU storage (no autograd op is recorded); device tensors are staged through host memory.
/// </summary>
public static class FlatParameters
{
    /// <summary>Total number of floats in <paramref name="parameters"/>.</summary>
    public static int Count(IEnumerable<Parameter> parameters) => checked((int)parameters.Sum(p => p.numel()));

    /// <summary>The parameters as a new flat array.</summary>
    public static float[] Get(IReadOnlyList<Parameter> parameters)
    {
        var flat = new float[Count(parameters)];
        CopyTo(parameters, flat);
        return flat;
    }

    /// <summary>Copies the parameters into <paramref name="destination"/>.</summary>
    public static void CopyTo(IReadOnlyList<Parameter> parameters, Span<float> destination)
    {
        int offset = 0;
        foreach (var p in parameters)
        {
            int n = (int)p.numel();
            Read(p, destination.Slice(offset, n));
            offset += n;
        }
    }

    /// <summary>Overwrites the parameters from <paramref name="source"/>.</summary>
    public static void CopyFrom(IReadOnlyList<Parameter> parameters, ReadOnlySpan<float> source)
    {
        int needed = Count(parameters);
        if (source.Length < needed)
            throw new ArgumentException($"The vector has {source.Length} values but the parameters need {needed}.", nameof(source));
        int offset = 0;
        foreach (var p in parameters)
        {
            int n = (int)p.numel();
            Write(p, source.Slice(offset, n));
            offset += n;
        }
    }

    /// <summary>Copies one tensor's values into <paramref name="destination"/>.</summary>
    public static void Read(Tensor tensor, Span<float> destination)
    {
        RequireFloat32(tensor);
        using var scope = NewDisposeScope();
        var host = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? tensor : tensor.detach().cpu().contiguous();
        // Tensor.bytes is a view of the storage: one block copy (the element-wise TensorAccessor copy was ~40× slower,
        // which made copying a model in and out the main cost of a distributed round boundary).
        MemoryMarshal.Cast<byte, float>(host.bytes)[..destination.Length].CopyTo(destination);
    }

    /// <summary>Overwrites one tensor's values from <paramref name="source"/>.</summary>
    public static void Write(Tensor tensor, ReadOnlySpan<float> source)
    {
        RequireFloat32(tensor);
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
        {
            source.CopyTo(MemoryMarshal.Cast<byte, float>(tensor.bytes));
            return;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        tensor.copy_(torch.tensor(source.ToArray(), tensor.shape));
    }

    // The block copies reinterpret the storage's bytes, so another element type must be refused, not misread.
    private static void RequireFloat32(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32)
            throw new ArgumentException($"Flat parameter vectors are float32; this tensor is {tensor.dtype}.", nameof(tensor));
    }

    /// <summary>
    /// Sets <paramref name="parameter"/>'s gradient to <paramref name="value"/> (e.g. a DP-noised or averaged gradient) so that an
    /// optimizer step uses it. TorchSharp 0.107's <c>Tensor.grad</c> setter does not reliably install the tensor (a later read
    /// can return a tensor of another dtype), so the gradient is created by autograd when missing and overwritten in place.
    /// </summary>
    public static void AssignGradient(Parameter parameter, Tensor value)
    {
        if (parameter.grad is null)
        {
            using var enable = enable_grad();
            using var scope = NewDisposeScope();
            (parameter * 0).sum().backward(); // allocates a float gradient of the right shape, filled with zeros
        }
        using var noGrad = no_grad();
        parameter.grad!.copy_(value);
    }
}
