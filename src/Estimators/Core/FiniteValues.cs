using System.Numerics;

namespace MLNetExt;

/// <summary>The vectorised non-finite check shared by training (rows read) and scoring (rows scored).</summary>
internal static class FiniteValues
{
    /// <summary>Index of the first NaN or ±Infinity in <paramref name="values"/>, or −1 when every value is finite.</summary>
    // x − x is 0 for every finite x and NaN for NaN and ±∞: one vector compare per Vector<float>.Count values.
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(values.Slice(i));
                if (!Vector.EqualsAll(v - v, Vector<float>.Zero)) break;
            }
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
