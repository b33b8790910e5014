namespace MLNetExt;

/// <summary>
/// A labelled pre-routing timing graph of one design: one node per pin (ports included), net edges driver → sink and
/// cell arcs input pin → output pin. This is the contract between the circuit data pipeline (which builds it from
/// Liberty, netlist, DEF and OpenSTA output) and the PreRoutGNN regressor (which learns from it).
/// </summary>
/// <remarks>
/// Arrays are flat and row-major so they map one-to-one onto tensors and ONNX inputs. The layout follows the
/// TimingPredict/PreRoutGNN reference code. Labels use <see cref="float.NaN"/> where a value is unknown
/// (unconstrained pins, missing arcs); models must mask NaN labels out of their losses and metrics.
/// Corner order everywhere is EarlyRise, EarlyFall, LateRise, LateFall (EL×RF).
/// Times are in nanoseconds, capacitances in picofarads, distances in micrometres (see <see cref="Units"/>).
/// </remarks>
public sealed class TimingGraph
{
    /// <summary>Node feature width: is-port, is-driver, 4 distances to die top/left/right/bottom, 4 pin capacitances (EL×RF).</summary>
    public const int NodeFeatureCount = 10;
    /// <summary>Net edge feature width: (dx, dy) from driver to sink.</summary>
    public const int NetEdgeFeatureCount = 2;
    /// <summary>Number of NLDM tables per cell arc: {early, late} × {cell_rise, cell_fall, rise_transition, fall_transition}.</summary>
    public const int LutCount = 8;
    /// <summary>LUT side after padding: tables up to 7×7 are padded with <see cref="CellLutMask"/> = 0.</summary>
    public const int LutSize = 7;
    /// <summary>Per-LUT axis block: valid flag, index_1 ×7 (input transition), index_2 ×7 (output load).</summary>
    public const int LutAxisWidth = 1 + 2 * LutSize;
    /// <summary>Per-node / per-edge label width (EL×RF).</summary>
    public const int CornerCount = 4;

    /// <summary>Design name, e.g. <c>gcd</c>.</summary>
    public required string Design { get; init; }
    /// <summary>Technology / platform, e.g. <c>nangate45</c>.</summary>
    public required string Technology { get; init; }
    /// <summary>Units note, e.g. "time ns, cap pF, distance um".</summary>
    public string Units { get; init; } = "time ns, capacitance pF, distance um";
    /// <summary>Where the labels came from, e.g. "OpenSTA 2.0.17 on netlist + SPEF + SDC".</summary>
    public string LabelSource { get; init; } = "";
    /// <summary>
    /// <see cref="TimingGraphBuilder.Revision"/> of the builder that made this graph (0: older than revisions, or not
    /// built from a netlist); <see cref="CircuitDataset"/> rebuilds cached graphs of an older revision.
    /// </summary>
    public int BuildRevision { get; init; }

    /// <summary>Pin names (instance/pin, or port name for ports), one per node.</summary>
    public required string[] PinNames { get; init; }
    /// <summary>Number of nodes.</summary>
    public int NodeCount => PinNames.Length;
    /// <summary>[N × <see cref="NodeFeatureCount"/>] pre-routing node features (positions, caps only).</summary>
    public required float[] NodeFeatures { get; init; }
    /// <summary>Topological level per node (Kahn frontiers over net ∪ cell edges): sources 0, net sinks odd, cell outputs even.</summary>
    public required int[] Levels { get; init; }

    /// <summary>Net edge sources (driver pin index), length E_net.</summary>
    public required int[] NetSource { get; init; }
    /// <summary>Net edge targets (sink pin index), length E_net.</summary>
    public required int[] NetTarget { get; init; }
    /// <summary>[E_net × 2] (dx, dy) driver → sink in micrometres (placement only, nothing from routing).</summary>
    public required float[] NetEdgeFeatures { get; init; }

    /// <summary>Cell arc sources (input pin index), length E_cell. Includes clock-to-Q launch arcs.</summary>
    public required int[] CellSource { get; init; }
    /// <summary>Cell arc targets (output pin index), length E_cell.</summary>
    public required int[] CellTarget { get; init; }
    /// <summary>[E_cell × 8 × 15] per LUT: valid flag, index_1 (7, input transition ns), index_2 (7, output load pF), zero-padded.</summary>
    public required float[] CellLutAxes { get; init; }
    /// <summary>[E_cell × 8 × 49] LUT values (ns), zero-padded to 7×7.</summary>
    public required float[] CellLutValues { get; init; }
    /// <summary>[E_cell × 8 × 49] 1 where <see cref="CellLutValues"/> holds a real table entry, 0 for padding.</summary>
    public required float[] CellLutMask { get; init; }

    /// <summary>
    /// Length E_cell (or empty = all <see cref="TimingArcSense.Unknown"/>): each cell arc's unateness or clock edge, from
    /// the Liberty timing group's <c>timing_sense</c> and <c>timing_type</c>. It says which input transition can cause
    /// each output transition — e.g. a rising-edge flip-flop's Q changes only on the clock's rising edge, half a period
    /// before its falling one.
    /// </summary>
    public TimingArcSense[] CellArcSense { get; init; } = [];

    /// <summary>[N × 4] arrival time labels (ns); NaN when unknown.</summary>
    public required float[] ArrivalTime { get; init; }
    /// <summary>[N × 4] slew labels (ns); NaN when unknown.</summary>
    public required float[] Slew { get; init; }
    /// <summary>[N × 4] required time labels (ns); NaN when unconstrained.</summary>
    public required float[] RequiredTime { get; init; }
    /// <summary>[N × 4] net delay labels on net sinks (ns); NaN on drivers or when unknown.</summary>
    public required float[] NetDelay { get; init; }
    /// <summary>[E_cell × 4] cell arc delay labels (ns); NaN when unknown.</summary>
    public required float[] CellDelay { get; init; }
    /// <summary>True for timing endpoints (register data pins, primary outputs) with a required time.</summary>
    public required bool[] IsEndpoint { get; init; }

    /// <summary>Slack = required − arrival per node and corner (NaN where either is unknown).</summary>
    public float[] Slack()
    {
        var s = new float[ArrivalTime.Length];
        for (int i = 0; i < s.Length; i++) s[i] = RequiredTime[i] - ArrivalTime[i];
        return s;
    }

    /// <summary>
    /// The induced sub-graph on <paramref name="nodes"/> (ascending pin indices): edges with both ends inside are kept,
    /// arrays sliced, and levels recomputed (pins whose drivers fall outside become sources).
    /// </summary>
    public TimingGraph Subgraph(IReadOnlyList<int> nodes)
    {
        var map = new int[NodeCount];
        Array.Fill(map, -1);
        for (int k = 0; k < nodes.Count; k++) map[nodes[k]] = k;
        var nets = Enumerable.Range(0, NetSource.Length).Where(e => map[NetSource[e]] >= 0 && map[NetTarget[e]] >= 0).ToArray();
        var cells = Enumerable.Range(0, CellSource.Length).Where(e => map[CellSource[e]] >= 0 && map[CellTarget[e]] >= 0).ToArray();
        T[] Rows<T>(T[] a, IReadOnlyList<int> rows, int width)
        {
            var r = new T[rows.Count * width];
            for (int k = 0; k < rows.Count; k++) Array.Copy(a, (long)rows[k] * width, r, (long)k * width, width);
            return r;
        }
        var names = nodes.Select(i => PinNames[i]).ToArray();
        var netSrc = nets.Select(e => map[NetSource[e]]).ToArray(); var netDst = nets.Select(e => map[NetTarget[e]]).ToArray();
        var cellSrc = cells.Select(e => map[CellSource[e]]).ToArray(); var cellDst = cells.Select(e => map[CellTarget[e]]).ToArray();
        return new TimingGraph
        {
            Design = Design, Technology = Technology, Units = Units, LabelSource = LabelSource, BuildRevision = BuildRevision, PinNames = names,
            NodeFeatures = Rows(NodeFeatures, nodes, NodeFeatureCount),
            Levels = TimingGraphBuilder.Levelize(names.Length, netSrc, netDst, cellSrc, cellDst, names),
            NetSource = netSrc, NetTarget = netDst, NetEdgeFeatures = Rows(NetEdgeFeatures, nets, NetEdgeFeatureCount),
            CellSource = cellSrc, CellTarget = cellDst,
            CellLutAxes = Rows(CellLutAxes, cells, LutCount * LutAxisWidth), CellLutValues = Rows(CellLutValues, cells, LutCount * LutSize * LutSize),
            CellLutMask = Rows(CellLutMask, cells, LutCount * LutSize * LutSize),
            CellArcSense = CellArcSense.Length == 0 ? [] : Rows(CellArcSense, cells, 1),
            ArrivalTime = Rows(ArrivalTime, nodes, CornerCount), Slew = Rows(Slew, nodes, CornerCount), RequiredTime = Rows(RequiredTime, nodes, CornerCount),
            NetDelay = Rows(NetDelay, nodes, CornerCount), CellDelay = Rows(CellDelay, cells, CornerCount), IsEndpoint = Rows(IsEndpoint, nodes, 1),
        };
    }

    /// <summary>A copy with another <see cref="LabelSource"/> (arrays shared).</summary>
    public TimingGraph WithLabelSource(string labelSource) => Copy(labelSource, BuildRevision);

    /// <summary>This graph stamped with another <see cref="BuildRevision"/> (arrays shared).</summary>
    public TimingGraph WithBuildRevision(int revision) => Copy(LabelSource, revision);

    private TimingGraph Copy(string labelSource, int revision) => new()
    {
        Design = Design, Technology = Technology, Units = Units, LabelSource = labelSource, BuildRevision = revision, PinNames = PinNames,
        NodeFeatures = NodeFeatures, Levels = Levels, NetSource = NetSource, NetTarget = NetTarget, NetEdgeFeatures = NetEdgeFeatures,
        CellSource = CellSource, CellTarget = CellTarget, CellLutAxes = CellLutAxes, CellLutValues = CellLutValues, CellLutMask = CellLutMask,
        CellArcSense = CellArcSense, ArrivalTime = ArrivalTime, Slew = Slew, RequiredTime = RequiredTime, NetDelay = NetDelay, CellDelay = CellDelay, IsEndpoint = IsEndpoint,
    };

    /// <summary>Number of levels (max level + 1).</summary>
    public int LevelCount => Levels.Length == 0 ? 0 : Levels.Max() + 1;
}

/// <summary>Which input transition of a cell arc can cause which output transition (Liberty <c>timing_sense</c> /
/// <c>timing_type</c>).</summary>
public enum TimingArcSense : byte
{
    /// <summary>Not given (or <c>non_unate</c>): either input transition can cause either output transition.</summary>
    Unknown = 0,
    /// <summary><c>positive_unate</c>: rise causes rise, fall causes fall.</summary>
    PositiveUnate = 1,
    /// <summary><c>negative_unate</c>: rise causes fall, fall causes rise.</summary>
    NegativeUnate = 2,
    /// <summary><c>rising_edge</c> (a flip-flop's clock → Q): only the input's rise causes either output transition.</summary>
    RisingEdge = 3,
    /// <summary><c>falling_edge</c>: only the input's fall causes either output transition.</summary>
    FallingEdge = 4,
}

/// <summary>Reading of Liberty timing-group attributes into <see cref="TimingArcSense"/>.</summary>
public static class TimingArcSenses
{
    /// <summary>The sense of a timing group from its <c>timing_type</c> and <c>timing_sense</c> (edge types win).</summary>
    public static TimingArcSense From(string timingType, string timingSense) => timingType switch
    {
        "rising_edge" => TimingArcSense.RisingEdge,
        "falling_edge" => TimingArcSense.FallingEdge,
        _ => timingSense switch
        {
            "positive_unate" => TimingArcSense.PositiveUnate,
            "negative_unate" => TimingArcSense.NegativeUnate,
            _ => TimingArcSense.Unknown,
        },
    };

    /// <summary>
    /// Whether an input transition (<paramref name="inputRises"/>) can cause an output transition
    /// (<paramref name="outputRises"/>) through an arc of this sense.
    /// </summary>
    public static bool Allows(this TimingArcSense sense, bool inputRises, bool outputRises) => sense switch
    {
        TimingArcSense.PositiveUnate => inputRises == outputRises,
        TimingArcSense.NegativeUnate => inputRises != outputRises,
        TimingArcSense.RisingEdge => inputRises,
        TimingArcSense.FallingEdge => !inputRises,
        _ => true,
    };
}
