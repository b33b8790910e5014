using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetExt.PreRoutGnn;

/// <summary>Predictions for one graph, in the model's scales (arrival ns, ln-slew + 3, ln-net-delay + 7.6, cell delay ns).</summary>
public sealed record TimingOutputs(Tensor State, Tensor NetDelay, Tensor CellDelay) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() { State.Dispose(); NetDelay.Dispose(); CellDelay.Dispose(); }
}

/// <summary>
/// The global-circuit pre-training auto-encoder: a DeepGCNII encoder to a 4-d latent per pin and a DeepGCNII decoder that
/// reconstructs the 10 graph features from it, on the undirected homogeneous graph.
/// </summary>
public sealed class GraphAutoEncoder : Module<TimingGraphTensors, Tensor>
{
    /// <summary>Latent width per pin.</summary>
    public const int Latent = 4;
    /// <summary>The encoder, kept and fine-tuned by the timing model.</summary>
    public DeepGcnii Encoder { get; }
    private readonly DeepGcnii _decoder;

    /// <summary>Creates the encoder and decoder.</summary>
    public GraphAutoEncoder() : base(nameof(GraphAutoEncoder))
    {
        Encoder = new DeepGcnii(TimingGraphTensors.BaseFeatureCount, Latent, 12);
        _decoder = new DeepGcnii(Latent, Transforms.Circuits.TimingGraph.NodeFeatureCount, 12);
        RegisterComponents();
    }

    /// <summary>Per-node reconstruction MSE over the graph's valid nodes.</summary>
    public override Tensor forward(TimingGraphTensors g)
    {
        var (s, t, f) = g.Homogeneous;
        var z = Encoder.call(g.NodeFeatures, s, t, f);
        var rec = _decoder.call(z, s, t, f);
        var err = (rec - g.NodeFeatures[.., ..Transforms.Circuits.TimingGraph.NodeFeatureCount]).pow(2).mean(new long[] { 1 });
        return (err * g.Valid).sum() / g.Valid.sum().clamp_min(1);
    }
}

/// <summary>Which PreRoutGNN components are on (all on = PreRoutGNN; all off ≈ TimingGCN).</summary>
/// <param name="Pretraining">Global circuit pre-training: encoder latent and its graph mean appended to the features.</param>
/// <param name="Residual">Residual NetConv stack and residual local-delay net steps.</param>
/// <param name="Readout">LUT attention (PreRoutGNN) or LUT query mask (TimingGCN).</param>
/// <param name="Hidden">Embedding width of the NetConv stack.</param>
/// <param name="PropagationHidden">MLP width of the propagation steps.</param>
/// <param name="NetConvLayers">Number of NetConv layers.</param>
/// <param name="CellResidual">
/// Ours, off in the paper's code: a cell step adds its output to the latest input state over its arcs (arrival and ln-slew
/// of the worst input), so cells also learn a local delay instead of carrying absolute times through an MLP.
/// </param>
/// <param name="DesignUnits">Ours, off in the reference: times in the design's typical gate delay, capacitances in its mean
/// pin capacitance (see <see cref="TimingGraphTensors.From"/>).</param>
/// <param name="ArrivalInvariant">Ours, off in the reference: the step MLPs see the predecessor's slews but not its arrival
/// times, so a delay cannot depend on when a signal arrives — as in static timing analysis. With the residual net step and
/// <paramref name="CellResidual"/>, shifting the input arrivals then shifts every output arrival by exactly the same amount,
/// and a per-step bias in the arrival's pass-through cannot compound over the levels of sequential inference.</param>
/// <param name="LutLookup">Ours, off in the reference: each cell step first does what STA does with the arc's NLDM tables —
/// reads the delay and output-slew tables at the predicted input slew and at the driven net's pin load (times one learned
/// wire factor) — and the network learns a correction: the output pin's state is the table-read state (early corners the
/// minimum, late the maximum over arcs and input transitions) plus the reduced messages, the arc delays are the read
/// delays plus the head's output, and the cell MLP also sees the 16 read values. The LUT attention stays as it is.
/// Supersedes <paramref name="CellResidual"/>'s base (the latest input) when both are on.</param>
/// <param name="WireLoad">Ours, off by default; only with <paramref name="LutLookup"/>: the load the tables are read at also
/// counts the net's wire, estimated before routing (<see cref="TimingGraphTensors.WireCapacitance"/>: half-perimeter of the
/// box around the driver and its sinks × a fanout factor × 0.1 fF/µm) × one learned factor (starting at 1). Without it, wire capacitance can only enter as a multiple of the pin
/// capacitance.</param>
/// <param name="StartFromTables">Ours, off by default; only with <paramref name="LutLookup"/>: the last layers of the net step,
/// of the cell step's reduction and of its delay correction start at zero, so the untrained network is the STA of the
/// tables (zero wire delay, the tables read at pin + wire load) and training learns corrections to it rather than first
/// undoing random ones. Only initialisation changes; saved models do not depend on it.</param>
/// <param name="CellArrivalFromTables">Ours, off by default; only with <paramref name="LutLookup"/>: a cell output's arrival
/// times are the tables' (the latest/earliest arc read at the predicted slew and load) and the cell step's learned
/// reduction corrects only its ln-slews. What a pre-routing graph lacks is the wire — its load (the learned wire factor)
/// and its delay and slew degradation (the residual net step) — while the tables are exact for the cell once slew and
/// load are right; a learned arrival correction per cell is what compounds over the levels of an unseen design. The LUT
/// attention still drives the slew correction and the cell-delay head.</param>
public sealed record PreRoutGnnArchitecture(bool Pretraining, bool Residual, LutReadout Readout, int Hidden = 64, int PropagationHidden = 128, int NetConvLayers = 4,
    bool CellResidual = false, bool DesignUnits = false, bool ArrivalInvariant = false, bool LutLookup = false, bool WireLoad = false,
    bool StartFromTables = false, bool CellArrivalFromTables = false)
{
    /// <summary>Node features the propagation sees: base (+ latent + graph mean) + NetConv embedding.</summary>
    public int InputFeatures => TimingGraphTensors.BaseFeatureCount + (Pretraining ? 2 * GraphAutoEncoder.Latent : 0);

    /// <summary>Columns of the propagation's node features: inputs + NetConv embedding (+ 4 pin loads with the lookup).</summary>
    public int PropagationFeatures => InputFeatures + Hidden + (LutLookup ? 4 : 0);

    /// <summary>Node feature columns 6..9 (pin capacitances) × this = the NLDM tables' load axis unit
    /// (<see cref="TimingGraphTensors.From"/>: fF vs pF × 10 in the reference's units; both the design's unit otherwise).</summary>
    internal float CapacitanceToLoadAxis => DesignUnits ? 1f : 0.01f;
}

/// <summary>
/// PreRoutGNN: (optional) pre-trained encoder → stem → NetConv stack (residual) with a net-delay head → level-order signal
/// propagation with residual net steps and LUT attention in cell steps.
/// </summary>
public sealed class PreRoutGnnNetwork : Module
{
    internal readonly DeepGcnii? _encoder;
    internal readonly Linear _stem;
    internal readonly ModuleList<NetConv> _netConvs;
    internal readonly GraphMlp _netDelay;
    internal readonly SignalPropagation _propagation;
    internal readonly Parameter? _wireLogScale;

    /// <summary>The architecture (component switches and widths).</summary>
    public PreRoutGnnArchitecture Architecture { get; }

    /// <summary>Creates the network; <paramref name="encoder"/> (pre-trained) is required when pre-training is on.</summary>
    public PreRoutGnnNetwork(PreRoutGnnArchitecture architecture, DeepGcnii? encoder = null) : base(nameof(PreRoutGnnNetwork))
    {
        Architecture = architecture;
        if (architecture.Pretraining) _encoder = encoder ?? new DeepGcnii(TimingGraphTensors.BaseFeatureCount, GraphAutoEncoder.Latent, 12);
        int h = architecture.Hidden;
        _stem = Linear(architecture.InputFeatures, h);
        _netConvs = new ModuleList<NetConv>(Enumerable.Range(0, architecture.NetConvLayers).Select(_ => new NetConv(h, h, 2 * h)).ToArray());
        _netDelay = new GraphMlp(h, h, 4);
        _propagation = new SignalPropagation(architecture.PropagationFeatures, architecture.PropagationHidden, architecture.Residual, architecture.Readout,
            architecture.ArrivalInvariant, architecture.LutLookup, architecture.CellArrivalFromTables);
        void NeedsLookup(bool on, string option, string what)
        {
            if (on && !architecture.LutLookup) throw new ArgumentException($"{option} {what}: it needs LutLookup = true.", nameof(architecture));
        }
        NeedsLookup(architecture.WireLoad, nameof(architecture.WireLoad), "adds the wire to the load the NLDM tables are read at");
        NeedsLookup(architecture.CellArrivalFromTables, nameof(architecture.CellArrivalFromTables), "takes cell arrivals from the NLDM tables");
        NeedsLookup(architecture.StartFromTables, nameof(architecture.StartFromTables), "starts the network at the STA of the NLDM tables");
        if (architecture.WireLoad) _wireLogScale = Parameter(zeros(1));
        RegisterComponents();
        if (architecture.StartFromTables) ResetToTables();
    }

    /// <summary>
    /// Zeroes the learned corrections of a lookup network (last layers of the net step and of the cell step's reduction,
    /// the cell delay head's correction), so it computes the STA of the NLDM tables; the load factors are kept.
    /// </summary>
    /// <exception cref="InvalidOperationException">The network has no NLDM lookup.</exception>
    public void ResetToTables()
    {
        if (!Architecture.LutLookup) throw new InvalidOperationException("Only a network with LutLookup has tables to fall back to.");
        _propagation.ZeroCorrections();
    }

    /// <summary>Node features for propagation [N, InputFeatures + Hidden] and the net-delay predictions [N, 4].</summary>
    public (Tensor Nodes, Tensor NetDelay) Embed(TimingGraphTensors g)
    {
        var nf = g.NodeFeatures;
        if (_encoder is not null)
        {
            var (s, t, f) = g.Homogeneous;
            var z = _encoder.call(nf, s, t, f);
            nf = cat(new[] { nf, z, z.mean(new long[] { 0 }, keepdim: true).expand(z.shape[0], z.shape[1]) }, 1);
        }
        var x = Activations.LeakyRelu(_stem.call(nf));
        foreach (var layer in _netConvs) x = Architecture.Residual ? layer.call(x, g) + x : layer.call(x, g);
        var netDelay = _netDelay.call(x);
        if (!Architecture.LutLookup) return (cat(new[] { nf, x }, 1), netDelay);
        return (cat(new[] { nf, x, PinLoad(g) }, 1), netDelay);
    }

    /// <summary>[N, 4] per driver pin and corner: the sum of its net's sink pin capacitances (+ the estimated wire capacitance
    /// with <see cref="PreRoutGnnArchitecture.WireLoad"/>), in the LUT load axis unit.</summary>
    internal Tensor PinLoad(TimingGraphTensors g)
    {
        var caps = g.NodeFeatures[.., PinCapacitanceColumns].index_select(0, g.NetTarget);
        var load = GraphScatter.Sum(caps, g.NetSource, g.NodeCount);
        if (_wireLogScale is not null) load = load + g.WireCapacitance * exp(_wireLogScale);
        return load * Architecture.CapacitanceToLoadAxis;
    }

    /// <summary>The 4 pin capacitance columns (EL×RF) of the base node features.</summary>
    internal static readonly TensorIndex PinCapacitanceColumns = TensorIndex.Slice(6, 10);

    /// <summary>
    /// Training pass with teacher forcing: every step runs once, in parallel, from the true predecessor states — or, with
    /// <paramref name="selfFed"/>, from the model's own sequential prediction started at the graph's true sources and
    /// computed without gradients (scheduled sampling, see <see cref="PreRoutGnnOptions.SelfFeedRate"/>).
    /// </summary>
    public TimingOutputs TeacherForced(TimingGraphTensors g, bool selfFed = false)
    {
        var (h, netDelay) = Embed(g);
        long n = g.NodeCount;
        var inputs = g.State;
        if (selfFed)
            using (no_grad()) inputs = Sequential(g, h.detach(), StartStates(g, trueSources: true)).State;
        var hs = h.index_select(0, g.NetSource);
        var sinks = GraphScatter.Sum(_propagation.NetStep(inputs.index_select(0, g.NetSource), hs, h.index_select(0, g.NetTarget)), g.NetTarget, n);
        var (sum, max, delay, lookup) = _propagation.CellArcs(inputs.index_select(0, g.CellSource), h.index_select(0, g.CellSource), h.index_select(0, g.CellTarget),
            g.LutAxes, g.LutValues, g.LutMask, g.ArcExclusion);
        var outputs = _propagation.Reduce(h, GraphScatter.Sum(sum, g.CellTarget, n), GraphScatter.Extreme(max, g.CellTarget, n, max: true));
        outputs = outputs + CellBase(inputs.index_select(0, g.CellSource), lookup, g.CellTarget, n);
        var state = g.IsNetSink * sinks + (1 - g.IsNetSink) * outputs;
        return new TimingOutputs(state, netDelay, delay);
    }

    /// <summary>
    /// Inference: level by level from the primary inputs (true arrival/slew given there, 0 at other sources). With
    /// <paramref name="trueSources"/> every level-0 pin starts from its label — what a training piece of the partition
    /// needs, whose first context level has its predecessors outside the piece.
    /// </summary>
    public TimingOutputs Propagate(TimingGraphTensors g, bool trueSources = false)
    {
        var (h, netDelay) = Embed(g);
        var (state, cellDelay) = Sequential(g, h, StartStates(g, trueSources));
        return new TimingOutputs(state, netDelay, cellDelay);
    }

    // What a cell step adds its output to: the table-read states (early corners the minimum over arcs, late the maximum)
    // with the lookup, the latest input state with CellResidual, nothing in the paper's model.
    private Tensor CellBase(Tensor sourceStates, Tensor? lookup, Tensor target, long n)
    {
        if (lookup is not null)
        {
            var min = GraphScatter.Extreme(lookup, target, n, max: false);
            var max = GraphScatter.Extreme(lookup, target, n, max: true);
            return cat(new[] { SignalPropagation.EarlyMinLateMax(min[.., ..4], max[.., ..4]), SignalPropagation.EarlyMinLateMax(min[.., 4..], max[.., 4..]) }, 1);
        }
        return Architecture.CellResidual ? GraphScatter.Extreme(sourceStates, target, n, max: true) : zeros(n, 8, device: sourceStates.device);
    }

    // Labels at the primary inputs (or, for a partition piece, at every level-0 pin), 0 elsewhere.
    private static Tensor StartStates(TimingGraphTensors g, bool trueSources) => g.State * (trueSources ? 1 - g.HasFanIn : g.IsPrimaryInput);

    // Level-by-level propagation from the node embeddings h, filling state (in place) from its start values.
    private (Tensor State, Tensor CellDelay) Sequential(TimingGraphTensors g, Tensor h, Tensor state)
    {
        var cellDelay = zeros(g.CellSource.shape[0], 4, device: h.device);
        foreach (var step in g.Schedule)
        {
            using var scope = NewDisposeScope();
            long m = step.Nodes.shape[0];
            var hn = h.index_select(0, step.Nodes);
            var netOut = zeros(m, 8, device: h.device);
            if (step.NetEdges.shape[0] > 0)
            {
                var src = g.NetSource.index_select(0, step.NetEdges);
                var dst = g.NetTarget.index_select(0, step.NetEdges);
                netOut = netOut.index_add(0, step.NetLocalTarget, _propagation.NetStep(state.index_select(0, src), h.index_select(0, src), h.index_select(0, dst)), GraphScatter.One);
            }
            var cellOut = zeros(m, 8, device: h.device);
            if (step.CellEdges.shape[0] > 0)
            {
                var src = g.CellSource.index_select(0, step.CellEdges);
                var dst = g.CellTarget.index_select(0, step.CellEdges);
                var (sum, max, delay, lookup) = _propagation.CellArcs(state.index_select(0, src), h.index_select(0, src), h.index_select(0, dst),
                    g.LutAxes.index_select(0, step.CellEdges), g.LutValues.index_select(0, step.CellEdges), g.LutMask.index_select(0, step.CellEdges),
                    g.ArcExclusion.index_select(0, step.CellEdges));
                cellOut = _propagation.Reduce(hn, GraphScatter.Sum(sum, step.CellLocalTarget, m), GraphScatter.Extreme(max, step.CellLocalTarget, m, max: true));
                cellOut = cellOut + CellBase(state.index_select(0, src), lookup, step.CellLocalTarget, m);
                cellDelay.index_copy_(0, step.CellEdges, delay);
            }
            var sink = g.IsNetSink.index_select(0, step.Nodes);
            state.index_copy_(0, step.Nodes, sink * netOut + (1 - sink) * cellOut);
        }
        return (state, cellDelay);
    }
}
