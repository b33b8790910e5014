using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>
/// A <see cref="TimingGraph"/> as model tensors, preprocessed like the PreRoutGNN reference: positions min–max normalised
/// per design, a 9-dimensional level encoding appended, targets in the model's scales (log slew, log net delay) with masks,
/// and the level schedule for sequential propagation.
/// </summary>
public sealed class TimingGraphTensors : IDisposable
{
    /// <summary>Base node features: 10 graph features + 9 level encodings.</summary>
    public const int BaseFeatureCount = TimingGraph.NodeFeatureCount + 1 + 2 * LevelFrequencies;
    /// <summary>Frequencies of the sinusoidal level encoding.</summary>
    public const int LevelFrequencies = 4;
    /// <summary>Level scale of the encoding (the reference's max_level).</summary>
    public const float MaxLevel = 200;

    /// <summary>Source graph.</summary>
    public required TimingGraph Graph { get; init; }
    /// <summary>[N, 19] node features.</summary>
    public required Tensor NodeFeatures { get; init; }
    /// <summary>Net edge driver / sink indices [E_net].</summary>
    public required Tensor NetSource { get; init; }
    /// <summary>Net edge sinks [E_net].</summary>
    public required Tensor NetTarget { get; init; }
    /// <summary>[E_net, 2] (dx, dy) scaled by the die span.</summary>
    public required Tensor NetEdgeFeatures { get; init; }
    /// <summary>Cell arc sources [E_cell].</summary>
    public required Tensor CellSource { get; init; }
    /// <summary>Cell arc targets [E_cell].</summary>
    public required Tensor CellTarget { get; init; }
    /// <summary>[E_cell, 8, 15] LUT axes (valid flag, input transition ns, load ×10 pF).</summary>
    public required Tensor LutAxes { get; init; }
    /// <summary>[E_cell, 8, 49] LUT values (ns).</summary>
    public required Tensor LutValues { get; init; }
    /// <summary>[E_cell, 8, 49] 1 for real table entries.</summary>
    public required Tensor LutMask { get; init; }
    /// <summary>
    /// [E_cell, 8] what the NLDM lookup adds to each candidate before it takes the early minimum / late maximum: columns
    /// 0–3 the same-transition candidate per corner, 4–7 the opposite-transition one; 0 where the arc's
    /// <see cref="TimingGraph.CellArcSense"/> allows the transition, +<see cref="ExcludedCandidate"/> (early corners) or
    /// −<see cref="ExcludedCandidate"/> (late corners) where it does not, so the extreme never picks it.
    /// </summary>
    public required Tensor ArcExclusion { get; init; }

    /// <summary>Offset that takes an impossible transition out of a min/max (far beyond any time in ns or design units).</summary>
    public const float ExcludedCandidate = 1e4f;

    // Per arc and corner (EL×RF; odd corners are falling outputs): 0 if the input transition can cause the corner's output
    // transition, else ±ExcludedCandidate; the same-transition candidate first, then the opposite one.
    private static float[] Exclusions(TimingGraph graph)
    {
        int e = graph.CellSource.Length;
        var x = new float[e * 8];
        for (int k = 0; k < graph.CellArcSense.Length; k++)
            for (int c = 0; c < 4; c++)
            {
                bool outputRises = c % 2 == 0;
                float excluded = c < 2 ? ExcludedCandidate : -ExcludedCandidate;
                if (!graph.CellArcSense[k].Allows(inputRises: outputRises, outputRises)) x[k * 8 + c] = excluded;
                if (!graph.CellArcSense[k].Allows(inputRises: !outputRises, outputRises)) x[k * 8 + 4 + c] = excluded;
            }
        return x;
    }
    /// <summary>[N, 8] target state: arrival (4) and <see cref="TargetScales.ToLnSlew(float)"/> (4); 0 where unknown.</summary>
    public required Tensor State { get; init; }
    /// <summary>[N, 8] 1 where <see cref="State"/> is a real label.</summary>
    public required Tensor StateMask { get; init; }
    /// <summary>[N, 4] <see cref="TargetScales.ToLnNetDelay(float)"/> on net sinks.</summary>
    public required Tensor NetDelay { get; init; }
    /// <summary>[N, 4] mask of <see cref="NetDelay"/>.</summary>
    public required Tensor NetDelayMask { get; init; }
    /// <summary>[E_cell, 4] cell delay (ns).</summary>
    public required Tensor CellDelay { get; init; }
    /// <summary>[E_cell, 4] mask of <see cref="CellDelay"/>.</summary>
    public required Tensor CellDelayMask { get; init; }
    /// <summary>[N] 1 for nodes whose losses count (all, or a partition window's own nodes).</summary>
    public required Tensor Valid { get; init; }
    /// <summary>Per level ≥ 1, for sequential inference: the level's nodes, the net edges and cell arcs into them, and each
    /// edge's target as a position in <c>Nodes</c>.</summary>
    public required IReadOnlyList<LevelStep> Schedule { get; init; }
    /// <summary>[N, 1] 1 for net sinks (their state comes from a net step; others from cell steps).</summary>
    public required Tensor IsNetSink { get; init; }
    /// <summary>[N, 1] 1 for pins with fan-in (level > 0): the pins whose state a net or cell step predicts.</summary>
    public required Tensor HasFanIn { get; init; }
    /// <summary>[N, 1] 1 for primary inputs, whose true arrival and slew are given at inference.</summary>
    public required Tensor IsPrimaryInput { get; init; }
    /// <summary>Edges of the undirected homogeneous graph of the pre-training auto-encoder (net, cell and both reversed).</summary>
    public required (Tensor Source, Tensor Target, Tensor Features) Homogeneous { get; init; }
    /// <summary>Nodes at level 0 (sources): primary inputs and pins without fan-in.</summary>
    public required Tensor Sources { get; init; }
    /// <summary>Number of nodes.</summary>
    public int NodeCount => Graph.NodeCount;
    /// <summary>Nanoseconds per model time unit (1, or the design's typical gate delay with design units).</summary>
    public float TimeScale { get; init; } = 1;
    /// <summary>[N, 1] per driver pin: its net's pre-routing wire capacitance estimate, in the unit of the node features' pin
    /// capacitance columns — half-perimeter of the box around the driver and its sinks (µm) × max(1, √(fanout /
    /// <see cref="SteinerFanout"/>)) × <see cref="WireCapacitancePerMicron"/>; 0 for pins that drive nothing. Depends on the
    /// graph only, so it is computed once here (used by <see cref="TableLoad.PinAndWireCapacitance"/>).</summary>
    public required Tensor WireCapacitance { get; init; }
    /// <summary>Typical routed wire capacitance, 0.1 fF/µm (in pF/µm), the starting point of the learned wire factor of
    /// <see cref="TableLoad.PinAndWireCapacitance"/>: metal wires of 45–130 nm processes lie around 0.1–0.2 fF/µm.</summary>
    public const float WireCapacitancePerMicron = 1e-4f;
    /// <summary>Fanout up to which a net's Steiner length is taken as its half-perimeter; above it the length grows as
    /// √(fanout / this) × the half-perimeter (a Steiner tree over n spread pins grows about as √n; RISA's table).</summary>
    public const float SteinerFanout = 6.4f;

    /// <summary>Converts <paramref name="graph"/>; <paramref name="valid"/> marks the nodes whose losses count (default: all).</summary>
    /// <exception cref="ArgumentException">The graph is malformed (NaN features, bad edge index, arc without any LUT).</exception>
    /// <param name="graph">The graph.</param>
    /// <param name="device">Tensor device (CPU by default).</param>
    /// <param name="valid">Pins whose losses count (default: all).</param>
    /// <param name="designUnits">
    /// Express times in the design's typical gate delay (mean late cell_rise LUT entry) and capacitances in its mean input
    /// pin capacitance, so technologies whose delays differ tenfold share one scale (ours; false = the reference's ns/fF).
    /// </param>
    public static TimingGraphTensors From(TimingGraph graph, Device? device = null, bool[]? valid = null, bool designUnits = false)
    {
        Validate(graph);
        device ??= CPU;
        int n = graph.NodeCount;
        const int F = TimingGraph.NodeFeatureCount, C = TimingGraph.CornerCount;
        var (timeScale, capScale) = designUnits ? DesignScales(graph) : (1f, 1e-3f);
        float loadScale = designUnits ? capScale : 0.1f; // reference: loads in pF × 10
        var nf = new float[n * BaseFeatureCount];
        var min = new float[4]; var max = new float[4];
        Array.Fill(min, float.MaxValue); Array.Fill(max, float.MinValue);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 4; k++) { float v = graph.NodeFeatures[i * F + 2 + k]; min[k] = Math.Min(min[k], v); max[k] = Math.Max(max[k], v); }
        for (int i = 0; i < n; i++)
        {
            int o = i * BaseFeatureCount;
            nf[o] = graph.NodeFeatures[i * F]; nf[o + 1] = graph.NodeFeatures[i * F + 1];
            for (int k = 0; k < 4; k++) nf[o + 2 + k] = max[k] > min[k] ? (graph.NodeFeatures[i * F + 2 + k] - min[k]) / (max[k] - min[k]) : 0;
            for (int k = 0; k < 4; k++) nf[o + 6 + k] = graph.NodeFeatures[i * F + 6 + k] / capScale; // values of order 1
            float level = graph.Levels[i];
            nf[o + F] = level / MaxLevel;
            for (int k = 0; k < LevelFrequencies; k++)
            {
                double angle = Math.PI * Math.Pow(2, k) * level / MaxLevel;
                nf[o + F + 1 + 2 * k] = (float)Math.Sin(angle);
                nf[o + F + 2 + 2 * k] = (float)Math.Cos(angle);
            }
        }
        float span = Math.Max(1e-6f, Math.Max(max[1] + max[2], max[0] + max[3])); // die width/height in µm
        var ef = graph.NetEdgeFeatures.Select(v => v / span).ToArray();
        var axes = (float[])graph.CellLutAxes.Clone();
        for (int a = 0; a < axes.Length; a += TimingGraph.LutAxisWidth)
            for (int j = 0; j < TimingGraph.LutSize; j++) { axes[a + 1 + j] /= timeScale; axes[a + 1 + TimingGraph.LutSize + j] /= loadScale; }
        var lutValues = timeScale == 1 ? graph.CellLutValues : graph.CellLutValues.Select(v => v / timeScale).ToArray();

        var state = new float[n * 8]; var stateMask = new float[n * 8];
        var netDelay = new float[n * C]; var netMask = new float[n * C];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++)
            {
                float at = graph.ArrivalTime[i * C + c] / timeScale, slew = graph.Slew[i * C + c] / timeScale, nd = graph.NetDelay[i * C + c] / timeScale;
                if (float.IsFinite(at) && Math.Abs(at) < 1e6) { state[i * 8 + c] = at; stateMask[i * 8 + c] = 1; }
                if (float.IsFinite(slew) && slew >= 0) { state[i * 8 + 4 + c] = TargetScales.ToLnSlew(slew); stateMask[i * 8 + 4 + c] = 1; }
                if (float.IsFinite(nd) && nd >= 0) { netDelay[i * C + c] = TargetScales.ToLnNetDelay(nd); netMask[i * C + c] = 1; }
            }
        var cellDelay = graph.CellDelay.Select(v => float.IsFinite(v) ? v / timeScale : 0f).ToArray();
        var cellMask = graph.CellDelay.Select(v => float.IsFinite(v) ? 1f : 0f).ToArray();

        var byLevel = new List<int>[graph.LevelCount];
        for (int i = 0; i < n; i++) (byLevel[graph.Levels[i]] ??= new List<int>()).Add(i);
        var netByLevel = new List<long>[graph.LevelCount]; var cellByLevel = new List<long>[graph.LevelCount];
        for (int e = 0; e < graph.NetTarget.Length; e++) (netByLevel[graph.Levels[graph.NetTarget[e]]] ??= new()).Add(e);
        for (int e = 0; e < graph.CellTarget.Length; e++) (cellByLevel[graph.Levels[graph.CellTarget[e]]] ??= new()).Add(e);
        var schedule = new List<LevelStep>();
        var position = new int[n];
        for (int l = 1; l < graph.LevelCount; l++)
        {
            if (byLevel[l] is null) continue;
            for (int k = 0; k < byLevel[l].Count; k++) position[byLevel[l][k]] = k;
            var nets = netByLevel[l] ?? new(); var cells = cellByLevel[l] ?? new();
            schedule.Add(new LevelStep(tensor(byLevel[l].Select(i => (long)i).ToArray(), device: device),
                tensor(nets.ToArray(), device: device), tensor(nets.Select(e => (long)position[graph.NetTarget[e]]).ToArray(), device: device),
                tensor(cells.ToArray(), device: device), tensor(cells.Select(e => (long)position[graph.CellTarget[e]]).ToArray(), device: device)));
        }
        var isSink = new float[n];
        foreach (var t in graph.NetTarget) isSink[t] = 1;
        var isPi = new float[n];
        for (int i = 0; i < n; i++) isPi[i] = graph.NodeFeatures[i * F] == 1 && graph.NodeFeatures[i * F + 1] == 1 ? 1 : 0;
        // Homogeneous graph for pre-training: 12-d edge features; reversed edges carry the negated features.
        int en = graph.NetSource.Length, ec = graph.CellSource.Length;
        var hsrc = new long[2 * (en + ec)]; var hdst = new long[2 * (en + ec)]; var hf = new float[2 * (en + ec) * 12];
        for (int e = 0; e < en; e++)
        {
            hsrc[e] = graph.NetSource[e]; hdst[e] = graph.NetTarget[e];
            hf[e * 12 + 1] = 1; hf[e * 12 + 10] = ef[2 * e]; hf[e * 12 + 11] = ef[2 * e + 1];
        }
        for (int e = 0; e < ec; e++)
        {
            int o = en + e;
            hsrc[o] = graph.CellSource[e]; hdst[o] = graph.CellTarget[e];
            hf[o * 12] = 1;
            for (int t = 0; t < TimingGraph.LutCount; t++)
            {
                double sum = 0, count = 0;
                for (int j = 0; j < 49; j++) { int at = (e * TimingGraph.LutCount + t) * 49 + j; sum += graph.CellLutValues[at] * graph.CellLutMask[at]; count += graph.CellLutMask[at]; }
                hf[o * 12 + 2 + t] = count > 0 ? (float)(sum / count) : 0;
            }
        }
        int half = en + ec;
        for (int e = 0; e < half; e++)
        {
            hsrc[half + e] = hdst[e]; hdst[half + e] = hsrc[e];
            for (int j = 0; j < 12; j++) hf[(half + e) * 12 + j] = -hf[e * 12 + j];
        }
        long E = graph.CellSource.Length;
        return new TimingGraphTensors
        {
            Graph = graph,
            TimeScale = timeScale,
            WireCapacitance = tensor(WireCapacitances(graph, capScale), new long[] { n, 1 }, device: device),
            NodeFeatures = tensor(nf, new long[] { n, BaseFeatureCount }, device: device),
            NetSource = tensor(graph.NetSource.Select(i => (long)i).ToArray(), device: device),
            NetTarget = tensor(graph.NetTarget.Select(i => (long)i).ToArray(), device: device),
            NetEdgeFeatures = tensor(ef, new long[] { graph.NetSource.Length, 2 }, device: device),
            CellSource = tensor(graph.CellSource.Select(i => (long)i).ToArray(), device: device),
            CellTarget = tensor(graph.CellTarget.Select(i => (long)i).ToArray(), device: device),
            LutAxes = tensor(axes, new long[] { E, TimingGraph.LutCount, TimingGraph.LutAxisWidth }, device: device),
            LutValues = tensor(lutValues, new long[] { E, TimingGraph.LutCount, 49 }, device: device),
            LutMask = tensor(graph.CellLutMask, new long[] { E, TimingGraph.LutCount, 49 }, device: device),
            ArcExclusion = tensor(Exclusions(graph), new long[] { E, 8 }, device: device),
            State = tensor(state, new long[] { n, 8 }, device: device),
            StateMask = tensor(stateMask, new long[] { n, 8 }, device: device),
            NetDelay = tensor(netDelay, new long[] { n, C }, device: device),
            NetDelayMask = tensor(netMask, new long[] { n, C }, device: device),
            CellDelay = tensor(cellDelay, new long[] { E, C }, device: device),
            CellDelayMask = tensor(cellMask, new long[] { E, C }, device: device),
            Valid = tensor(valid?.Select(v => v ? 1f : 0f).ToArray() ?? Enumerable.Repeat(1f, n).ToArray(), device: device),
            Schedule = schedule,
            IsNetSink = tensor(isSink, new long[] { n, 1 }, device: device),
            HasFanIn = tensor(graph.Levels.Select(l => l > 0 ? 1f : 0f).ToArray(), new long[] { n, 1 }, device: device),
            IsPrimaryInput = tensor(isPi, new long[] { n, 1 }, device: device),
            Homogeneous = (tensor(hsrc, device: device), tensor(hdst, device: device), tensor(hf, new long[] { hsrc.Length, 12 }, device: device)),
            Sources = tensor((byLevel.Length > 0 ? byLevel[0] : new List<int>()).Select(i => (long)i).ToArray(), device: device),
        };
    }

    // Per driver: half-perimeter of the box around the driver (at 0, 0) and its sinks' (dx, dy) in µm × the fanout factor
    // × wire capacitance per µm, in units of capScale (pF).
    private static float[] WireCapacitances(TimingGraph graph, float capScale)
    {
        int n = graph.NodeCount;
        var lo = new float[n * 2]; var hi = new float[n * 2]; var fanout = new int[n];
        for (int e = 0; e < graph.NetSource.Length; e++)
        {
            int d = graph.NetSource[e];
            fanout[d]++;
            for (int k = 0; k < 2; k++)
            {
                float v = graph.NetEdgeFeatures[2 * e + k];
                lo[2 * d + k] = Math.Min(lo[2 * d + k], v); hi[2 * d + k] = Math.Max(hi[2 * d + k], v);
            }
        }
        var wire = new float[n];
        for (int i = 0; i < n; i++)
        {
            float halfPerimeter = hi[2 * i] - lo[2 * i] + hi[2 * i + 1] - lo[2 * i + 1];
            wire[i] = halfPerimeter * MathF.Max(1, MathF.Sqrt(fanout[i] / SteinerFanout)) * WireCapacitancePerMicron / capScale;
        }
        return wire;
    }

    /// <summary>
    /// The design's time scale (ns: mean of the real entries of every arc's late cell_rise table) and capacitance scale (pF:
    /// mean late rise capacitance of the input pins); 1 ns / 1 fF when the design has none.
    /// </summary>
    public static (float Time, float Capacitance) DesignScales(TimingGraph g)
    {
        const int S2 = TimingGraph.LutSize * TimingGraph.LutSize;
        double sum = 0; long count = 0;
        for (int e = 0; e < g.CellSource.Length; e++)
        {
            int o = (e * TimingGraph.LutCount + 4) * S2; // late cell_rise
            for (int j = 0; j < S2; j++) if (g.CellLutMask[o + j] > 0) { sum += g.CellLutValues[o + j]; count++; }
        }
        double caps = 0; long pins = 0;
        for (int i = 0; i < g.NodeCount; i++)
        {
            float c = g.NodeFeatures[i * TimingGraph.NodeFeatureCount + 8];
            if (c > 0) { caps += c; pins++; }
        }
        float time = count > 0 && sum > 0 ? (float)(sum / count) : 1f;
        float cap = pins > 0 && caps > 0 ? (float)(caps / pins) : 1e-3f;
        return (time, cap);
    }

    /// <summary>Rejects graphs the model cannot learn from, naming what is wrong.</summary>
    /// <exception cref="ArgumentException">NaN/∞ features, edge index out of range, inconsistent array sizes, or an arc without LUTs.</exception>
    public static void Validate(TimingGraph g)
    {
        int n = g.NodeCount;
        string where = $"timing graph '{g.Technology}/{g.Design}'";
        void Check(bool ok, string what) { if (!ok) throw new ArgumentException($"{where}: {what}", "graph"); }
        Check(g.NodeFeatures.Length == n * TimingGraph.NodeFeatureCount, $"NodeFeatures has {g.NodeFeatures.Length} values for {n} pins × {TimingGraph.NodeFeatureCount}");
        Check(g.Levels.Length == n, "Levels length differs from the pin count");
        for (int i = 0; i < g.NodeFeatures.Length; i++)
            Check(float.IsFinite(g.NodeFeatures[i]), $"node feature {i % TimingGraph.NodeFeatureCount} of pin '{g.PinNames[i / TimingGraph.NodeFeatureCount]}' is {g.NodeFeatures[i]}");
        Check(g.NetSource.Length == g.NetTarget.Length && g.NetEdgeFeatures.Length == 2 * g.NetSource.Length, "net edge arrays differ in length");
        Check(g.CellSource.Length == g.CellTarget.Length, "cell arc arrays differ in length");
        Check(g.CellArcSense.Length == 0 || g.CellArcSense.Length == g.CellSource.Length,
            $"CellArcSense has {g.CellArcSense.Length} entries for {g.CellSource.Length} cell arcs (give one per arc, or none)");
        foreach (var (arr, name) in new[] { (g.NetSource, "NetSource"), (g.NetTarget, "NetTarget"), (g.CellSource, "CellSource"), (g.CellTarget, "CellTarget") })
            foreach (var i in arr) Check(i >= 0 && i < n, $"{name} holds pin index {i} outside 0..{n - 1}");
        for (int e = 0; e < g.NetSource.Length; e++)
            Check(g.Levels[g.NetTarget[e]] > g.Levels[g.NetSource[e]], $"net edge {g.PinNames[g.NetSource[e]]} → {g.PinNames[g.NetTarget[e]]} does not go to a higher level (loop or stale levels)");
        for (int e = 0; e < g.CellSource.Length; e++)
        {
            Check(g.Levels[g.CellTarget[e]] > g.Levels[g.CellSource[e]], $"cell arc {g.PinNames[g.CellSource[e]]} → {g.PinNames[g.CellTarget[e]]} does not go to a higher level (loop or stale levels)");
            bool any = false;
            for (int t = 0; t < TimingGraph.LutCount; t++) any |= g.CellLutAxes[(e * TimingGraph.LutCount + t) * TimingGraph.LutAxisWidth] == 1;
            Check(any, $"cell arc {g.PinNames[g.CellSource[e]]} → {g.PinNames[g.CellTarget[e]]} has no LUT (missing Liberty tables)");
        }
        Check(g.CellLutValues.All(float.IsFinite), "a LUT value is NaN or infinite");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in new[] { NodeFeatures, NetSource, NetTarget, NetEdgeFeatures, CellSource, CellTarget, LutAxes, LutValues, LutMask, ArcExclusion,
                     State, StateMask, NetDelay, NetDelayMask, CellDelay, CellDelayMask, Valid, Sources, IsNetSink, HasFanIn, IsPrimaryInput, WireCapacitance,
                     Homogeneous.Source, Homogeneous.Target, Homogeneous.Features })
            t.Dispose();
        foreach (var step in Schedule) step.Dispose();
    }
}

/// <summary>One level of sequential propagation: its nodes and the edges into them (targets as positions in <see cref="Nodes"/>).</summary>
public sealed record LevelStep(Tensor Nodes, Tensor NetEdges, Tensor NetLocalTarget, Tensor CellEdges, Tensor CellLocalTarget) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Nodes.Dispose(); NetEdges.Dispose(); NetLocalTarget.Dispose(); CellEdges.Dispose(); CellLocalTarget.Dispose();
    }
}
