using System.Numerics.Tensors;

namespace MLNetExt.Distributed;

/// <summary>The one summation every transport that reduces by itself uses, so their results agree bit for bit.</summary>
internal static unsafe class RankOrderSum
{
    /// <summary>
    /// <paramref name="destination"/>[i] = Σ_r <paramref name="sources"/>[r][<paramref name="offset"/> + i], added in
    /// rank order 0, 1, …, N−1 so that float rounding, and therefore the result, is the same in every run.
    /// </summary>
    public static void Into(float* destination, ReadOnlySpan<nint> sources, long offset, int count)
    {
        var sum = new Span<float>(destination, count);
        new ReadOnlySpan<float>((float*)sources[0] + offset, count).CopyTo(sum);
        for (var r = 1; r < sources.Length; r++)
            TensorPrimitives.Add(sum, new ReadOnlySpan<float>((float*)sources[r] + offset, count), sum);
    }
}
