using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// What static timing analysis does with a cell arc's NLDM tables, as differentiable tensor code: look each table up at the
/// input slew and the output load, bilinearly inside the axes and linearly extrapolated outside them (as STA tools and
/// <see cref="LibertyTable.Lookup"/> do), up to one axis range beyond either end.
/// </summary>
/// <remarks>
/// Tables are the padded [E, 8, 7×7] blocks of <see cref="TimingGraphTensors"/>: a table's real size is read from its mask,
/// and an absent table (valid flag 0) reads 0. The segment search counts the interior breakpoints a value exceeds, so it
/// needs no loop and exports to ONNX as the same few operators (<see cref="PreRoutGnnOnnx"/>).
/// Extrapolation stops one axis range beyond the table (the value is clamped there) because the slews and loads read
/// here are the model's own predictions: unbounded linear extrapolation lets one bad slew grow level after level.
/// </remarks>
public static class NldmLookup
{
    private const int Side = TimingGraph.LutSize;

    /// <summary>Table order within an arc's 8: {early, late} × {cell_rise, cell_fall, rise_transition, fall_transition}.</summary>
    /// <remarks>For table t the output transition is t % 2, so its corner (EL×RF) is <c>SameCorner[t]</c> and the
    /// opposite input transition's corner <c>OppositeCorner[t]</c>.</remarks>
    internal static readonly long[] SameCorner = [0, 1, 0, 1, 2, 3, 2, 3];

    /// <summary>The corner with the other input transition, same early/late: for inverting (negative-unate) arcs.</summary>
    internal static readonly long[] OppositeCorner = [1, 0, 1, 0, 3, 2, 3, 2];

    /// <summary>Delay tables per corner (EL×RF → early cell_rise, early cell_fall, late cell_rise, late cell_fall).</summary>
    internal static readonly long[] DelayTables = [0, 1, 4, 5];

    /// <summary>Output-slew tables per corner.</summary>
    internal static readonly long[] SlewTables = [2, 3, 6, 7];

    /// <summary>
    /// Every table of every arc read at (<paramref name="slew"/>, <paramref name="load"/>), both [E, 8] in the axes' units;
    /// returns [E, 8].
    /// </summary>
    public static Tensor Read(Tensor axes, Tensor values, Tensor mask, Tensor slew, Tensor load)
    {
        long e = axes.shape[0];
        var grid = mask.view(e, 8, Side, Side);
        var rows = grid[.., .., .., 0].sum(-1).to_type(ScalarType.Int64);  // index_1 entries per table
        var cols = grid[.., .., 0, ..].sum(-1).to_type(ScalarType.Int64);  // index_2 entries per table
        var (i0, i1, t) = Segment(axes[.., .., 1..(1 + Side)], rows, slew);
        var (j0, j1, u) = Segment(axes[.., .., (1 + Side)..], cols, load);
        Tensor V(Tensor i, Tensor j) => values.gather(2, (i * Side + j).unsqueeze(-1)).squeeze(-1);
        var top = V(i0, j0) + (V(i0, j1) - V(i0, j0)) * u;
        var bottom = V(i1, j0) + (V(i1, j1) - V(i1, j0)) * u;
        return (top + (bottom - top) * t) * axes[.., .., 0];
    }

    // The segment [k, k1] of a sorted axis (first n entries real) that holds v, and v's fraction along it (outside the
    // axis it extrapolates, up to one axis range). k counts the interior breakpoints 1..n−2 below v.
    private static (Tensor K0, Tensor K1, Tensor Fraction) Segment(Tensor axis, Tensor n, Tensor v)
    {
        var lastIndex = (n - 1).clamp_min(0);
        var first = axis[.., .., 0];
        var last = axis.gather(2, lastIndex.unsqueeze(-1)).squeeze(-1);
        v = minimum(maximum(v, first * 2 - last), last * 2 - first);
        var position = arange(1, Side - 1, dtype: ScalarType.Int64, device: axis.device);             // 1..5
        var interior = position.view(1, 1, -1) <= (n - 2).unsqueeze(-1);
        var above = (v.unsqueeze(-1) > axis[.., .., 1..(Side - 1)]).logical_and(interior);
        var k0 = above.to_type(ScalarType.Int64).sum(-1);
        var k1 = minimum(k0 + 1, lastIndex);
        var a0 = axis.gather(2, k0.unsqueeze(-1)).squeeze(-1);
        var a1 = axis.gather(2, k1.unsqueeze(-1)).squeeze(-1);
        var span = a1 - a0;
        var positive = span > 0;
        var fraction = where(positive, (v - a0) / where(positive, span, ones_like(span)), zeros_like(span));
        return (k0, k1, fraction);
    }
}
