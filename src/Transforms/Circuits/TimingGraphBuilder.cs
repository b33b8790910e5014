namespace MLNetExt;

/// <summary>A design cannot become a timing graph (combinational loop, unknown cell, several drivers on a net).</summary>
public sealed class TimingGraphException(string message) : InvalidOperationException(message);

/// <summary>
/// Builds a <see cref="TimingGraph"/> from what exists before routing — netlist, placement (DEF components and pins) and
/// Liberty — and attaches labels from a post-route OpenSTA run. Nothing derived from routing enters the inputs.
/// </summary>
/// <remarks>
/// Pin positions are the placed cell's origin: without LEF, pin offsets inside a cell are unknown (cells are a few
/// micrometres wide, far below the net lengths that matter). Pin capacitances come from the Liberty
/// <c>rise_capacitance</c>/<c>fall_capacitance</c>. With one library set the early and late corners are the same tables.
/// </remarks>
public static class TimingGraphBuilder
{
    /// <summary>
    /// Bumped whenever the same inputs give a different graph or labels, so that cached graphs are rebuilt:
    /// 1 the OpenSTA dump takes clock tags only at clock pins (gated clocks), 2 arcs from data into the clock network
    /// (clock gate enables) are left out, 3 clock source ports keep their edge arrivals (NaN under 1–2).
    /// </summary>
    public const int Revision = 3;

    /// <summary>Builds the graph of <paramref name="netlist"/> placed by <paramref name="placement"/>.</summary>
    /// <param name="netlist">The flat structural netlist.</param>
    /// <param name="placement">DEF of the placed design (die area, components, pins). Routing in it is ignored.</param>
    /// <param name="early">Libraries of the early (min) corner.</param>
    /// <param name="late">Libraries of the late (max) corner; null duplicates <paramref name="early"/>.</param>
    /// <param name="labels">OpenSTA timing of the routed design; null leaves every label NaN.</param>
    /// <param name="technology">Technology name stored in the graph.</param>
    /// <param name="blackBoxUnknownCells">
    /// Leave instances of cells missing from the libraries out of the graph (OpenSTA's "black box") instead of failing;
    /// their nets lose that driver or load. Off by default: a missing library is usually a mistake.
    /// </param>
    public static TimingGraph Build(VerilogModule netlist, DefDesign placement, IReadOnlyList<LibertyLibrary> early,
        IReadOnlyList<LibertyLibrary>? late = null, StaTimingReport? labels = null, string technology = "", bool blackBoxUnknownCells = false)
    {
        late ??= early;
        var cellsEarly = CellIndex(early);
        var cellsLate = CellIndex(late);
        double um = placement.DatabaseUnitsPerMicron > 0 ? placement.DatabaseUnitsPerMicron : 1000;
        var die = placement.DieArea;
        var components = placement.Components.Values.ToDictionary(c => Plain(c.Name), c => c, StringComparer.Ordinal);

        // Nets joined by 'assign a = b' are one electrical net.
        var alias = new Dictionary<string, string>(StringComparer.Ordinal);
        string Root(string net) { while (alias.TryGetValue(net, out var up)) net = up; return net; }
        foreach (var (target, source) in netlist.Assigns)
        {
            var a = Root(Plain(target)); var b = Root(Plain(source));
            if (a != b) alias[a] = b;
        }

        var names = new List<string>();
        var features = new List<float>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var drivers = new Dictionary<string, int>(StringComparer.Ordinal);
        var sinks = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var isDriver = new List<bool>();
        var position = new List<(double X, double Y)>();

        int AddNode(string name, bool port, bool driver, double x, double y, (LibertyPin Pin, LibertyLibrary Lib)? early, (LibertyPin Pin, LibertyLibrary Lib)? late, string net)
        {
            if (index.ContainsKey(name)) throw new TimingGraphException($"pin '{name}' appears twice in the netlist");
            int id = names.Count;
            names.Add(name); index[name] = id; isDriver.Add(driver); position.Add((x, y));
            float pf((LibertyPin Pin, LibertyLibrary Lib)? p, bool rise) =>
                p is not { } q || driver ? 0f : (float)((rise ? q.Pin.RiseCapacitance : q.Pin.FallCapacitance) * q.Lib.CapacitanceUnitFarads / 1e-12);
            late ??= early;
            features.AddRange(new[]
            {
                port ? 1f : 0f, driver ? 1f : 0f,
                (float)((die.Y1 - y) / um), (float)((x - die.X0) / um), (float)((die.X1 - x) / um), (float)((y - die.Y0) / um),
                pf(early, true), pf(early, false), pf(late, true), pf(late, false),
            });
            var root = Root(net);
            if (driver)
            {
                if (drivers.TryGetValue(root, out var other))
                    throw new TimingGraphException($"net '{root}' has two drivers: '{names[other]}' and '{name}'");
                drivers[root] = id;
            }
            else
            {
                if (!sinks.TryGetValue(root, out var list)) sinks[root] = list = new List<int>();
                list.Add(id);
            }
            return id;
        }

        foreach (var port in netlist.Ports)
        {
            var name = Plain(port.Name);
            var (x, y) = placement.Pins.TryGetValue(port.Name, out var dp) || placement.Pins.TryGetValue(name, out dp)
                ? (dp.X, dp.Y) : ((die.X0 + die.X1) / 2, (die.Y0 + die.Y1) / 2);
            // Primary inputs drive their net; primary outputs are its loads. Bidirectional ports are treated as inputs.
            AddNode(name, true, port.Direction != PortDirection.Output, x, y, null, null, name);
        }

        var cellArcs = new List<(int From, int To, LibertyTimingArc Early, LibertyLibrary EarlyLib, LibertyTimingArc Late, LibertyLibrary LateLib)>();
        var clockPins = new List<int>();
        foreach (var inst in netlist.Instances)
        {
            var instName = Plain(inst.Name);
            if (!cellsEarly.TryGetValue(inst.CellType, out var found))
            {
                if (inst.Connections.Count == 0 || blackBoxUnknownCells) continue; // physical-only cells (tap, filler, decap) have no signal pins
                throw new TimingGraphException($"cell '{inst.CellType}' of instance '{inst.Name}' (netlist line {inst.Line}) is in none of the Liberty libraries given ({string.Join(", ", early.Select(l => l.Name))}).");
            }
            var (cell, earlyLib) = found;
            var (lateCell, lateLib) = cellsLate.TryGetValue(inst.CellType, out var lf) ? lf : found;
            components.TryGetValue(instName, out var comp);
            double cx = comp?.X ?? (die.X0 + die.X1) / 2.0, cy = comp?.Y ?? (die.Y0 + die.Y1) / 2.0;
            var local = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (pinName, net) in inst.Connections)
            {
                if (!cell.Pins.TryGetValue(pinName, out var pin)) continue; // power/ground pins
                bool output = pin.Direction is "output" or "inout";
                var latePin = lateCell.Pins.GetValueOrDefault(pinName) ?? pin;
                local[pinName] = AddNode(instName + "/" + pinName, false, output, cx, cy, (pin, earlyLib), (latePin, lateLib), Plain(net));
                if (cell.IsSequential && pin.IsClock && !output) clockPins.Add(local[pinName]);
            }
            foreach (var (pinName, to) in local)
            {
                var pin = cell.Pins[pinName];
                if (pin.Direction is not ("output" or "inout")) continue;
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var arc in pin.Timing)
                {
                    if (IsCheck(arc.TimingType) || !local.TryGetValue(arc.RelatedPin, out var from) || from == to || !seen.Add(arc.RelatedPin)) continue;
                    // A latch's transparent D→Q arc closes loops through clock gates (latch → gated clock → flops → latch D).
                    // Like a static timer without time borrowing, keep only the enable→Q launch and end paths at D.
                    if (cell.IsLatch && !IsLaunch(arc.TimingType)) continue;
                    var lateArc = lateCell.Pins.GetValueOrDefault(pinName)?.Timing.FirstOrDefault(a => a.RelatedPin == arc.RelatedPin && !IsCheck(a.TimingType));
                    cellArcs.Add((from, to, arc, earlyLib, lateArc ?? arc, lateArc is null ? earlyLib : lateLib));
                }
            }
        }

        int n = names.Count;
        var netSrc = new List<int>(); var netDst = new List<int>(); var netFeat = new List<float>();
        foreach (var (net, loads) in sinks)
        {
            if (!drivers.TryGetValue(net, out var d)) continue; // undriven (constant or floating) net: its loads are sources
            foreach (var s in loads)
            {
                netSrc.Add(d); netDst.Add(s);
                netFeat.Add((float)((position[s].X - position[d].X) / um));
                netFeat.Add((float)((position[s].Y - position[d].Y) / um));
            }
        }

        // A clock gate's enable (latch Q into the gating AND) meets the clock in a clock-gating check; STA does not propagate
        // its data arrival as the gated clock's. Propagating through that arc would launch the gated flops at the enable's
        // arrival, so arcs from data pins into the clock network leave the graph, as the latch's D→Q arc does above.
        var inClock = ClockNetwork(names.Count, netSrc, netDst, cellArcs.Select(c => c.From).ToList(), cellArcs.Select(c => c.To).ToList(),
            cellArcs.Select(c => IsLaunch(c.Early.TimingType)).ToList(), clockPins, Enumerable.Range(0, names.Count).Where(i => features[i * TimingGraph.NodeFeatureCount] == 1 && isDriver[i]));
        cellArcs.RemoveAll(c => inClock[c.To] && !inClock[c.From]);

        int e = cellArcs.Count;
        const int L = TimingGraph.LutCount, S = TimingGraph.LutSize, A = TimingGraph.LutAxisWidth;
        var axes = new float[e * L * A];
        var values = new float[e * L * S * S];
        var mask = new float[e * L * S * S];
        for (int k = 0; k < e; k++)
        {
            var (_, _, ea, el, la, ll) = cellArcs[k];
            for (int corner = 0; corner < 2; corner++)
            {
                var (arc, lib) = corner == 0 ? (ea, el) : (la, ll);
                for (int t = 0; t < LibertyLibrary.TableKinds.Count; t++)
                {
                    var table = arc.Table(LibertyLibrary.TableKinds[t]);
                    if (table is null) continue;
                    int lut = corner * 4 + t;
                    var (i1, i2, v, m) = table.Padded(S);
                    double ns = lib.TimeUnitSeconds / 1e-9, pf = lib.CapacitanceUnitFarads / 1e-12;
                    int ax = (k * L + lut) * A;
                    axes[ax] = 1;
                    for (int j = 0; j < S; j++) { axes[ax + 1 + j] = (float)(i1[j] * ns); axes[ax + 1 + S + j] = (float)(i2[j] * pf); }
                    int vo = (k * L + lut) * S * S;
                    for (int j = 0; j < S * S; j++) { values[vo + j] = (float)(v[j] * ns); mask[vo + j] = m[j]; }
                }
            }
        }

        var cellSrc = cellArcs.Select(c => c.From).ToArray();
        var cellDst = cellArcs.Select(c => c.To).ToArray();
        var levels = Levelize(n, netSrc, netDst, cellSrc, cellDst, names);

        var arrival = Nan(n * 4); var slew = Nan(n * 4); var required = Nan(n * 4); var netDelay = Nan(n * 4); var cellDelay = Nan(e * 4);
        var endpoint = new bool[n];
        if (labels is not null)
        {
            for (int i = 0; i < n; i++)
            {
                if (!labels.Pins.TryGetValue(names[i], out var t)) continue;
                var req = t.Required;
                for (int c = 0; c < 4; c++) { arrival[i * 4 + c] = t.Arrival[c]; slew[i * 4 + c] = t.Slew[c]; required[i * 4 + c] = req[c]; }
                bool outputPort = features[i * TimingGraph.NodeFeatureCount] == 1 && !isDriver[i];
                endpoint[i] = (t.HasTimingCheck || outputPort) && req.Any(float.IsFinite);
            }
            var edgeDelay = new Dictionary<(int, int), float[]>();
            var netDriver = new Dictionary<int, int>();
            for (int k = 0; k < netSrc.Count; k++) netDriver[netDst[k]] = netSrc[k];
            foreach (var edge in labels.Edges)
            {
                if (edge.IsCheck || !index.TryGetValue(edge.From, out var f) || !index.TryGetValue(edge.To, out var t)) continue;
                if (edge.IsWire)
                {
                    if (netDriver.TryGetValue(t, out var d) && d == f)
                        for (int c = 0; c < 4; c++) netDelay[t * 4 + c] = edge.Delay[c];
                }
                else edgeDelay.TryAdd((f, t), edge.Delay);
            }
            for (int k = 0; k < e; k++)
                if (edgeDelay.TryGetValue((cellSrc[k], cellDst[k]), out var d))
                    for (int c = 0; c < 4; c++) cellDelay[k * 4 + c] = d[c];
        }

        return new TimingGraph
        {
            Design = netlist.Name, Technology = technology, BuildRevision = Revision, LabelSource = labels is null ? "none" : $"OpenSTA {labels.Version}".Trim(),
            PinNames = names.ToArray(), NodeFeatures = features.ToArray(), Levels = levels,
            NetSource = netSrc.ToArray(), NetTarget = netDst.ToArray(), NetEdgeFeatures = netFeat.ToArray(),
            CellSource = cellSrc, CellTarget = cellDst, CellLutAxes = axes, CellLutValues = values, CellLutMask = mask,
            CellArcSense = cellArcs.Select(c => TimingArcSenses.From(c.Early.TimingType, c.Early.TimingSense)).ToArray(),
            ArrivalTime = arrival, Slew = slew, RequiredTime = required, NetDelay = netDelay, CellDelay = cellDelay, IsEndpoint = endpoint,
        };
    }

    /// <summary>Nets with loads but no driver (no output pin, no input port), largest first: a netlist defect OpenSTA handles badly.</summary>
    public static IReadOnlyList<(string Net, int Loads)> UndrivenNets(VerilogModule netlist, IReadOnlyList<LibertyLibrary> libraries)
    {
        var cells = CellIndex(libraries);
        var driven = new HashSet<string>(netlist.Ports.Where(p => p.Direction != PortDirection.Output).Select(p => Plain(p.Name)), StringComparer.Ordinal);
        foreach (var (target, _) in netlist.Assigns) driven.Add(Plain(target));
        var loads = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var inst in netlist.Instances)
        {
            if (!cells.TryGetValue(inst.CellType, out var cell)) continue;
            foreach (var (pin, net) in inst.Connections)
            {
                if (!cell.Cell.Pins.TryGetValue(pin, out var p)) continue;
                if (p.Direction is "output" or "inout") driven.Add(Plain(net));
                else loads[Plain(net)] = loads.GetValueOrDefault(Plain(net)) + 1;
            }
        }
        return loads.Where(kv => !driven.Contains(kv.Key)).Select(kv => (kv.Key, kv.Value)).OrderByDescending(x => x.Value).ToList();
    }

    /// <summary>
    /// Longest-path levels over net ∪ cell edges (Kahn): level 0 for pins without fan-in, otherwise 1 + the deepest fan-in.
    /// </summary>
    /// <exception cref="TimingGraphException">A combinational loop; the message names the pins on it.</exception>
    public static int[] Levelize(int n, IReadOnlyList<int> netSrc, IReadOnlyList<int> netDst, IReadOnlyList<int> cellSrc, IReadOnlyList<int> cellDst, IReadOnlyList<string> names)
    {
        var fanout = new List<int>[n];
        var indegree = new int[n];
        void Add(int a, int b) { (fanout[a] ??= new List<int>()).Add(b); indegree[b]++; }
        for (int i = 0; i < netSrc.Count; i++) Add(netSrc[i], netDst[i]);
        for (int i = 0; i < cellSrc.Count; i++) Add(cellSrc[i], cellDst[i]);
        var level = new int[n];
        var queue = new Queue<int>();
        for (int i = 0; i < n; i++) if (indegree[i] == 0) queue.Enqueue(i);
        int done = 0;
        while (queue.Count > 0)
        {
            int v = queue.Dequeue(); done++;
            if (fanout[v] is null) continue;
            foreach (var w in fanout[v])
            {
                level[w] = Math.Max(level[w], level[v] + 1);
                if (--indegree[w] == 0) queue.Enqueue(w);
            }
        }
        if (done < n) throw new TimingGraphException("combinational loop through pins: " + string.Join(" → ", FindLoop(n, fanout, indegree, names)));
        return level;
    }

    // Every node Kahn left unprocessed has an unprocessed predecessor, so walking predecessors inside that sub-graph must
    // revisit a node; the walk from there back to itself is a loop.
    private static IEnumerable<string> FindLoop(int n, List<int>[] fanout, int[] indegree, IReadOnlyList<string> names)
    {
        var residual = Enumerable.Range(0, n).Where(i => indegree[i] > 0).ToHashSet();
        var pred = new Dictionary<int, int>();
        for (int v = 0; v < n; v++)
            if (residual.Contains(v) && fanout[v] is not null)
                foreach (var w in fanout[v]) if (residual.Contains(w)) pred.TryAdd(w, v);
        int start = residual.First();
        var order = new List<int>(); var at = new Dictionary<int, int>();
        while (!at.ContainsKey(start)) { at[start] = order.Count; order.Add(start); start = pred[start]; }
        var loop = order.Skip(at[start]).Reverse().Select(i => names[i]).ToList();
        return loop.Count > 12 ? loop.Take(12).Append($"… ({loop.Count} pins)") : loop.Append(loop[0]);
    }

    /// <summary>
    /// Pins of the clock network: forward from the clock sources through nets and non-launch cell arcs, and on to a clock
    /// pin of a sequential cell. The sources are the primary inputs that reach a sequential cell's clock pin backwards
    /// through nets and non-launch arcs (no SDC needed: a clock-to-Q launch arc ends the clock, so a clock gate's enable,
    /// coming out of a launch arc, is not a source).
    /// </summary>
    internal static bool[] ClockNetwork(int n, IReadOnlyList<int> netSrc, IReadOnlyList<int> netDst, IReadOnlyList<int> cellSrc,
        IReadOnlyList<int> cellDst, IReadOnlyList<bool> launch, IEnumerable<int> clockPins, IEnumerable<int> inputPorts)
    {
        var forward = new List<int>[n]; var backward = new List<int>[n];
        void Add(int a, int b) { (forward[a] ??= new()).Add(b); (backward[b] ??= new()).Add(a); }
        for (int i = 0; i < netSrc.Count; i++) Add(netSrc[i], netDst[i]);
        for (int i = 0; i < cellSrc.Count; i++) if (!launch[i]) Add(cellSrc[i], cellDst[i]);
        bool[] Reach(IEnumerable<int> from, List<int>[] edges)
        {
            var seen = new bool[n]; var stack = new Stack<int>();
            foreach (var v in from) if (!seen[v]) { seen[v] = true; stack.Push(v); }
            while (stack.Count > 0)
                foreach (var w in edges[stack.Pop()] ?? (IEnumerable<int>)Array.Empty<int>())
                    if (!seen[w]) { seen[w] = true; stack.Push(w); }
            return seen;
        }
        var upstream = Reach(clockPins, backward);
        var downstream = Reach(inputPorts.Where(p => upstream[p]), forward);
        return downstream.Select((d, i) => d && upstream[i]).ToArray(); // a clock that also feeds data stays a clock only on its way to clock pins
    }

    private static bool IsLaunch(string timingType) => timingType is "rising_edge" or "falling_edge";

    private static bool IsCheck(string timingType) =>
        timingType.StartsWith("setup", StringComparison.Ordinal) || timingType.StartsWith("hold", StringComparison.Ordinal)
        || timingType.StartsWith("recovery", StringComparison.Ordinal) || timingType.StartsWith("removal", StringComparison.Ordinal)
        || timingType.StartsWith("skew", StringComparison.Ordinal) || timingType.StartsWith("min", StringComparison.Ordinal)
        || timingType.StartsWith("nochange", StringComparison.Ordinal) || timingType.StartsWith("non_seq", StringComparison.Ordinal);

    /// <summary>Cells by name over <paramref name="libraries"/> (the first library defining a name wins).</summary>
    internal static Dictionary<string, (LibertyCell Cell, LibertyLibrary Library)> CellIndex(IReadOnlyList<LibertyLibrary> libraries)
    {
        var cells = new Dictionary<string, (LibertyCell, LibertyLibrary)>(StringComparer.Ordinal);
        foreach (var lib in libraries)
            foreach (var (name, cell) in lib.Cells) cells.TryAdd(name, (cell, lib));
        return cells;
    }

    private static float[] Nan(int n) { var a = new float[n]; Array.Fill(a, float.NaN); return a; }

    private static string Plain(string name) => StaTimingReport.PinName(name);
}
