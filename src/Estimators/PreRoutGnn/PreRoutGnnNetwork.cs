using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MLNetExt;

/// <summary>Predictions for one graph, in the model's scales (<see cref="TargetScales"/>: arrival, ln-slew, ln-net-delay, cell delay).</summary>
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
        _decoder = new DeepGcnii(Latent, TimingGraph.NodeFeatureCount, 12);
        RegisterComponents();
    }

    /// <summary>Per-node reconstruction MSE over the graph's valid nodes.</summary>
    public override Tensor forward(TimingGraphTensors g)
    {
        var (s, t, f) = g.Homogeneous;
        var z = Encoder.call(g.NodeFeatures, s, t, f);
        var rec = _decoder.call(z, s, t, f);
        var err = (rec - g.NodeFeatures[.., ..TimingGraph.NodeFeatureCount]).pow(2).mean(new long[] { 1 });
        return (err * g.Valid).sum() / g.Valid.sum().clamp_min(1);
    }
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
    /// <exception cref="ArgumentException">The architecture combines settings that do not go together (the message names them).</exception>
    public PreRoutGnnNetwork(PreRoutGnnArchitecture architecture, DeepGcnii? encoder = null) : base(nameof(PreRoutGnnNetwork))
    {
        ArgumentNullException.ThrowIfNull(architecture);
        architecture.Validate();
        Architecture = architecture;
        if (architecture.Pretraining) _encoder = encoder ?? new DeepGcnii(TimingGraphTensors.BaseFeatureCount, GraphAutoEncoder.Latent, 12);
        int h = architecture.Hidden;
        _stem = Linear(architecture.InputFeatures, h);
        _netConvs = new ModuleList<NetConv>(Enumerable.Range(0, architecture.NetConvLayers).Select(_ => new NetConv(h, h, 2 * h)).ToArray());
        _netDelay = new GraphMlp(h, h, 4);
        _propagation = new SignalPropagation(architecture.PropagationFeatures, architecture.PropagationHidden, architecture.Residual, architecture.Readout,
            architecture.LutLookup, architecture.CellArrivalFromTables);
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
        if (!Architecture.LutLookup) throw new InvalidOperationException("Only a network whose CellStep reads the NLDM tables has tables to fall back to.");
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
    /// with <see cref="TableLoad.PinAndWireCapacitance"/>), in the LUT load axis unit.</summary>
    internal Tensor PinLoad(TimingGraphTensors g)
    {
        var caps = g.NodeFeatures[.., PinCapacitanceColumns].index_select(0, g.NetTarget);
        var load = GraphScatter.Sum(caps, g.NetSource, g.NodeCount);
        if (_wireLogScale is not null) load = load + g.WireCapacitance * exp(_wireLogScale);
        return load * Architecture.CapacitanceToLoadAxis;
    }

    /// <summary>The 4 pin capacitance columns (EL×RF) of the base node features.</summary>
    internal static readonly TensorIndex PinCapacitanceColumns = TensorIndex.Slice(6, 10);

    /// <summary>Training pass with teacher forcing: every step runs once, in parallel, from the true predecessor states.</summary>
    public TimingOutputs TeacherForced(TimingGraphTensors g)
    {
        var (h, netDelay) = Embed(g);
        long n = g.NodeCount;
        var inputs = g.State;
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
