using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetExt;

/// <summary>How a cell step reads the NLDM tables.</summary>
public enum LutReadout
{
    /// <summary>PreRoutGNN: multi-head attention over the 49 entries per table (keys index_1·index_2, values the entries).</summary>
    Attention,
    /// <summary>TimingGCN: an MLP turns a query and the table axes into two 7-vectors whose outer product masks the table.</summary>
    QueryMask,
}

/// <summary>
/// Level-order signal propagation. The state of a pin is [arrival ×4, ln-slew ×4]. Net step: sink state = driver state +
/// MLP(driver state, driver, sink) (residual local delay; without residual the MLP gives the state). Cell step: per arc a
/// LUT readout of the 8 tables, then an MLP giving a gate, two 32-d messages and the arc's 4 delays; the output pin reduces
/// the gated sum and max of its arcs' messages into its state.
/// </summary>
public sealed class SignalPropagation : Module
{
    private const int State = 8, Half = 32, Luts = 8, Heads = 4, Qdim = 32;
    internal readonly GraphMlp _netStep, _query, _cell, _reduce;
    internal readonly GraphMlp? _lutMask;
    internal readonly Linear? _qProj, _outProj;
    internal readonly Parameter? _kWeight, _kBias, _vWeight, _vBias;
    internal readonly bool _residual;
    internal readonly LutReadout _readout;
    internal readonly bool _lutLookup;
    internal readonly Parameter? _loadLogScale;
    internal readonly bool _slewOnlyCellCorrection;

    /// <summary>Width of the per-arc NLDM features a lookup step adds to the cell MLP: delay and ln-slew per corner, for the
    /// same and the opposite input transition.</summary>
    internal const int LookupFeatures = 16;

    /// <summary>Propagation over nodes with <paramref name="nodeDim"/> features.</summary>
    /// <param name="nodeDim">Node feature width.</param>
    /// <param name="hidden">MLP width.</param>
    /// <param name="residualNetStep">Sink state = driver state + MLP output (residual local delay).</param>
    /// <param name="readout">LUT attention or LUT query mask.</param>
    /// <param name="lutLookup">Cell steps read the NLDM tables at the input slew and output load, as STA does, and learn a
    /// correction to that (see <see cref="CellStepKind.TableCorrection"/>); the last 4 node features are then the
    /// driven net's pin load per corner, in the tables' load unit.</param>
    /// <param name="slewOnlyCellCorrection">The reduction's output corrects only the ln-slews of a cell output (see
    /// <see cref="CellStepKind.TableArrival"/>).</param>
    public SignalPropagation(int nodeDim, int hidden, bool residualNetStep, LutReadout readout, bool lutLookup = false,
        bool slewOnlyCellCorrection = false)
        : base(nameof(SignalPropagation))
    {
        _slewOnlyCellCorrection = slewOnlyCellCorrection;
        _residual = residualNetStep;
        _lutLookup = lutLookup;
        // Pre-routing loads are pin capacitances only; one learned factor (starting at 1) stands for the wires.
        if (lutLookup) _loadLogScale = Parameter(zeros(1));
        _readout = readout;
        int stepIn = State + 2 * nodeDim;
        _netStep = new GraphMlp(stepIn, hidden, hidden, State);
        int lutOut;
        if (readout == LutReadout.Attention)
        {
            _query = new GraphMlp(stepIn, hidden, Luts * Qdim);
            _qProj = Linear(Qdim, Qdim);
            _outProj = Linear(Qdim, Qdim);
            // Keys and values are scalars (kdim = vdim = 1): their projections are one weight and one bias per channel.
            _kWeight = Parameter(randn(Qdim) * 0.5f); _kBias = Parameter(zeros(Qdim));
            _vWeight = Parameter(randn(Qdim) * 0.5f); _vBias = Parameter(zeros(Qdim));
            lutOut = Luts * Qdim;
        }
        else
        {
            _query = new GraphMlp(stepIn, hidden, Luts * 4 * 2);
            _lutMask = new GraphMlp(2 + 15, 64, 14);
            lutOut = Luts * 4;
        }
        _cell = new GraphMlp(lutOut + stepIn + (lutLookup ? LookupFeatures : 0), hidden, hidden, 1 + 2 * Half + 4);
        _reduce = new GraphMlp(nodeDim + 2 * Half, hidden, hidden, State);
        RegisterComponents();
    }

    // The corrections a lookup step learns on top of the tables: net step and reduce outputs, the cell head's 4 delays.
    internal void ZeroCorrections()
    {
        using var _ = no_grad();
        foreach (var mlp in new[] { _netStep, _reduce })
        {
            mlp.Layers[^1].weight!.zero_();
            mlp.Layers[^1].bias!.zero_();
        }
        var head = _cell.Layers[^1];
        head.weight![^4..].zero_(); // the 4 delay outputs follow the gate and the two messages
        head.bias![^4..].zero_();
    }

    /// <summary>Net step for edges with driver state/features and sink features → sink state.</summary>
    public Tensor NetStep(Tensor driverState, Tensor driver, Tensor sink)
    {
        var out1 = _netStep.call(cat(new[] { driverState, driver, sink }, 1));
        return _residual ? driverState + out1 : out1;
    }

    /// <summary>
    /// Per-arc outputs: gate·f1, gate·f2 (messages) and the 4 cell delays; with the lookup also the arc's table-read output
    /// state [E, 8] (arrival and ln-slew per corner), which the cell step reduces over arcs and adds its output to.
    /// </summary>
    /// <param name="srcState">[E, 8] source pin states.</param>
    /// <param name="src">[E, F] source pin features.</param>
    /// <param name="dst">[E, F] output pin features.</param>
    /// <param name="axes">[E, 8, 15] the arcs' table axes.</param>
    /// <param name="values">[E, 8, 49] the arcs' table values.</param>
    /// <param name="mask">[E, 8, 49] 1 for real table entries.</param>
    /// <param name="exclusion">[E, 8] the arcs' <see cref="TimingGraphTensors.ArcExclusion"/> (used by the lookup only).</param>
    public (Tensor Sum, Tensor Max, Tensor Delay, Tensor? Lookup) CellArcs(Tensor srcState, Tensor src, Tensor dst, Tensor axes, Tensor values, Tensor mask,
        Tensor exclusion)
    {
        var input = cat(new[] { srcState, src, dst }, 1);
        var lut = _readout == LutReadout.Attention ? Attention(input, axes, values, mask) : QueryMask(input, axes, values, mask);
        if (!_lutLookup)
        {
            var o = _cell.call(cat(new[] { lut, input }, 1));
            var k = sigmoid(o[.., ..1]);
            return (k * o[.., 1..(1 + Half)], k * o[.., (1 + Half)..(1 + 2 * Half)], o[.., (1 + 2 * Half)..], null);
        }
        var read = ReadTables(srcState, dst[.., ^4..], axes, values, mask, exclusion);
        var ol = _cell.call(cat(new[] { lut, input, read.Features }, 1));
        var kl = sigmoid(ol[.., ..1]);
        return (kl * ol[.., 1..(1 + Half)], kl * ol[.., (1 + Half)..(1 + 2 * Half)], ol[.., (1 + 2 * Half)..] + read.Delay, read.State);
    }

    /// <summary>Early corners (0, 1) take the minimum over candidates, late corners (2, 3) the maximum, as STA does.</summary>
    internal static Tensor EarlyMinLateMax(Tensor a, Tensor b) => cat(new[] { minimum(a[.., ..2], b[.., ..2]), maximum(a[.., 2..], b[.., 2..]) }, 1);

    // The STA reading of an arc: each delay and slew table at the source's slew of the same and of the opposite transition
    // and at the driven net's pin load × a learned wire factor; early corners keep the smaller candidate, late the larger,
    // among those the arc's unateness or clock edge allows (exclusion; both when it is unknown). Returns the MLP features,
    // the arc delay and output state.
    private (Tensor Features, Tensor Delay, Tensor State) ReadTables(Tensor srcState, Tensor load, Tensor axes, Tensor values, Tensor mask, Tensor exclusion)
    {
        var device = srcState.device;
        var slew = TargetScales.FromLnSlew(srcState[.., 4..]);                             // [E, 4] model time units
        var same = tensor(NldmLookup.SameCorner, device: device);
        var opposite = tensor(NldmLookup.OppositeCorner, device: device);
        var tableLoad = load.index_select(1, same) * exp(_loadLogScale!);                 // output transition of each table
        var readSame = NldmLookup.Read(axes, values, mask, slew.index_select(1, same), tableLoad);
        var readOpposite = NldmLookup.Read(axes, values, mask, slew.index_select(1, opposite), tableLoad);
        var delays = tensor(NldmLookup.DelayTables, device: device);
        var slews = tensor(NldmLookup.SlewTables, device: device);
        var arrival = srcState[.., ..4];
        var delaySame = readSame.index_select(1, delays); var delayOpposite = readOpposite.index_select(1, delays);
        var slewSame = readSame.index_select(1, slews); var slewOpposite = readOpposite.index_select(1, slews);
        var exSame = exclusion[.., ..4]; var exOpposite = exclusion[.., 4..];
        var outArrival = EarlyMinLateMax(arrival + delaySame + exSame, arrival.index_select(1, tensor(new long[] { 1, 0, 3, 2 }, device: device)) + delayOpposite + exOpposite);
        var outSlew = EarlyMinLateMax(slewSame + exSame, slewOpposite + exOpposite).clamp_min(0);
        var lnSlew = TargetScales.ToLnSlew(outSlew);
        var features = cat(new[] { delaySame, delayOpposite, TargetScales.ToLnSlew(slewSame), TargetScales.ToLnSlew(slewOpposite) }, 1);
        return (features, EarlyMinLateMax(delaySame + exSame, delayOpposite + exOpposite), cat(new[] { outArrival, lnSlew }, 1));
    }

    /// <summary>[1, 8]: 0 for the four arrivals, 1 for the four ln-slews (also used by the ONNX export).</summary>
    internal static float[] ArrivalMaskValues => [0, 0, 0, 0, 1, 1, 1, 1];

    private static Tensor ArrivalMask(Device device) => tensor(ArrivalMaskValues, new long[] { 1, State }, device: device);

    /// <summary>Output-pin state from its features and the aggregated arc messages.</summary>
    public Tensor Reduce(Tensor node, Tensor sum, Tensor max)
    {
        var correction = _reduce.call(cat(new[] { node, sum, max }, 1));
        return _slewOnlyCellCorrection ? correction * ArrivalMask(correction.device) : correction;
    }

    // Multi-head attention with one query per (arc, table) over the table's 49 entries. With scalar keys k and values v the
    // projections are k·w_k + b_k and v·w_v + b_v, so per head the score is k·(q·w_k) + q·b_k and, because the weights sum
    // to one, the output is (Σ a·v)·w_v + b_v: exact MHA without materialising [E, 8, 49, 32] tensors.
    private Tensor Attention(Tensor input, Tensor axes, Tensor values, Tensor mask)
    {
        long e = input.shape[0];
        int d = Qdim / Heads;
        var q = _qProj!.call(_query.call(input).view(e, Luts, Qdim)).view(e, Luts, Heads, d);
        var a = (q * _kWeight!.view(Heads, d)).sum(-1);            // [E, 8, H]
        var b = (q * _kBias!.view(Heads, d)).sum(-1);
        var i1 = axes[.., .., 1..8]; var i2 = axes[.., .., 8..15];
        var keys = (i1.unsqueeze(-1) * i2.unsqueeze(-2)).reshape(e, Luts, 49); // index_1 ⊗ index_2
        var scores = (a.unsqueeze(-1) * keys.unsqueeze(2) + b.unsqueeze(-1)) / MathF.Sqrt(d); // [E, 8, H, 49]
        var valid = mask.unsqueeze(2) > 0;
        scores = scores.masked_fill(valid.logical_not(), -1e9f);
        var weights = softmax(scores, -1) * valid;                   // a table with no entry gives zeros
        var pooled = (weights * values.unsqueeze(2)).sum(-1);        // [E, 8, H]
        var heads = pooled.unsqueeze(-1) * _vWeight!.view(Heads, d) + _vBias!.view(Heads, d) * weights.sum(-1, keepdim: true);
        var tableValid = axes[.., .., ..1];                          // [E, 8, 1]
        return (_outProj!.call(heads.reshape(e, Luts, Qdim)) * tableValid).reshape(e, Luts * Qdim);
    }

    // TimingGCN's LUT query: 4 two-dimensional queries per table, an MLP on [query, axes] gives two 7-vectors, their outer
    // product is a soft mask over the 7×7 entries, and the masked sum is one number per query.
    private Tensor QueryMask(Tensor input, Tensor axes, Tensor values, Tensor mask)
    {
        long e = input.shape[0];
        var q = _query.call(input).view(e, Luts, 4, 2);
        var ax = axes.unsqueeze(2).expand(e, Luts, 4, 15);
        var ab = _lutMask!.call(cat(new[] { q, ax }, -1));           // [E, 8, 4, 14]
        var outer = (ab[.., .., .., ..7].unsqueeze(-1) * ab[.., .., .., 7..].unsqueeze(-2)).reshape(e, Luts, 4, 49);
        return (outer * (values * mask).unsqueeze(2)).sum(-1).reshape(e, Luts * 4);
    }
}
