using System.Numerics.Tensors;

namespace MLNetExt;

/// <summary>The one summation every transport that reduces by itself uses, so their results agree bit for bit.</summary>
internal static unsafe class RankOrderSum
{
    /// <summary>
    /// <paramref name="destination"/>[i] = scale × Σ_r <paramref name="sources"/>[r][<paramref name="offset"/> + i], added in
    /// rank order 0, 1, …, N−1 so that float rounding, and therefore the result, is the same in every run; the scaling is
    /// fused into the last addition ((a + b)·s, the same rounding as adding, then scaling). The destination may be the first
    /// source's range itself.
    /// </summary>
    public static void Into(float* destination, ReadOnlySpan<nint> sources, long offset, int count, float scale = 1)
    {
        var sum = new Span<float>(destination, count);
        var first = (float*)sources[0] + offset;
        if (first != destination)
            new ReadOnlySpan<float>(first, count).CopyTo(sum);
        for (var r = 1; r < sources.Length; r++)
        {
            var next = new ReadOnlySpan<float>((float*)sources[r] + offset, count);
            if (r == sources.Length - 1 && scale != 1)
                TensorPrimitives.AddMultiply(sum, next, scale, sum);
            else
                TensorPrimitives.Add(sum, next, sum);
        }
        if (sources.Length == 1 && scale != 1)
            TensorPrimitives.Multiply(sum, scale, sum);
    }
}
