using System.Globalization;
using System.Text.RegularExpressions;

namespace MLNetExt;

/// <summary>
/// Per-layer wire resistance and capacitance of a platform, read from OpenROAD's <c>setRC.tcl</c>
/// (<c>set_layer_rc -layer L -resistance R -capacitance C</c>, <c>set_layer_rc -via V -resistance R</c>).
/// Values are per micrometre in the Liberty units the platform uses: kΩ for resistance, the library's capacitance unit.
/// </summary>
public sealed class LayerRc
{
    /// <summary>Wire R (kΩ/µm) and C (library capacitance unit/µm) by layer name.</summary>
    public required IReadOnlyDictionary<string, (double Resistance, double Capacitance)> Layers { get; init; }
    /// <summary>Via resistance (kΩ) by via name (read for completeness; the extractor folds vias into wire nodes).</summary>
    public required IReadOnlyDictionary<string, double> Vias { get; init; }
    /// <summary>The layer OpenROAD uses for estimated signal wires (<c>set_wire_rc -signal -layer</c>).</summary>
    public string? SignalLayer { get; init; }
    /// <summary>Routing layers in the order the file lists them (bottom to top, as OpenROAD's platforms do).</summary>
    public IReadOnlyList<string> Stack { get; init; } = [];

    /// <summary>Reads a <c>setRC.tcl</c>; commented lines are skipped.</summary>
    /// <exception cref="FormatException">A set_layer_rc line lacks a value; the message names file and line.</exception>
    public static LayerRc Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"setRC.tcl not found: {path}", path);
        using var reader = File.OpenText(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>Reads setRC.tcl text.</summary>
    public static LayerRc Read(TextReader reader, string source = "<text>")
    {
        var layers = new Dictionary<string, (double, double)>(StringComparer.Ordinal);
        var stack = new List<string>();
        var vias = new Dictionary<string, double>(StringComparer.Ordinal);
        string? signal = null;
        int lineNo = 0;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            lineNo++;
            var t = line.Trim();
            if (t.StartsWith('#')) continue;
            var words = t.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            string? Opt(string name) { int i = Array.IndexOf(words, name); return i >= 0 && i + 1 < words.Length ? words[i + 1] : null; }
            double Num(string name)
            {
                var text = Opt(name) ?? throw new FormatException($"{source}:{lineNo}: set_layer_rc without {name}");
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                    : throw new FormatException($"{source}:{lineNo}: {name} '{text}' is not a number");
            }
            if (words.Length > 0 && words[0] == "set_layer_rc")
            {
                if (Opt("-via") is { } via) vias[via] = Num("-resistance");
                else if (Opt("-layer") is { } layer)
                {
                    if (!layers.ContainsKey(layer)) stack.Add(layer);
                    layers[layer] = (Num("-resistance"), Num("-capacitance"));
                }
            }
            else if (words.Length > 0 && words[0] == "set_wire_rc" && words.Contains("-signal")) signal = Opt("-layer");
        }
        if (layers.Count == 0) throw new FormatException($"{source}: no 'set_layer_rc -layer' line found");
        return new LayerRc { Layers = layers, Vias = vias, SignalLayer = signal, Stack = stack };
    }
}

/// <summary>
/// Extracts an RC network per net from a routed DEF (ROUTED/NEW wire segments and vias) with per-layer R and C and
/// writes it as SPEF, so designs shipped without parasitics can be timed by OpenSTA.
/// </summary>
/// <remarks>
/// Ground capacitance only (no coupling), each wire piece as a π segment. Without LEF, pins are placed at their cell's
/// origin and tied to the nearest wire node; pieces the routing leaves apart (a pin reached through a cell's own metal)
/// are joined by a signal-layer wire of the Manhattan gap. Wire nodes are points (x, y) shared by all layers, so vias
/// add no resistance (a few ohms against hundreds along the wires). Each segment takes the R and C of the layer it lies
/// on after the vias before it on its path (<see cref="DefViaLayers"/>), not of the layer its statement starts on. This is coarser than OpenRCX's pattern-based extraction; the dataset table records which
/// designs were labelled this way.
/// </remarks>
public static class DefParasiticsExtractor
{
    /// <summary>Writes the SPEF of <paramref name="design"/> to <paramref name="output"/>.</summary>
    /// <param name="design">A routed DEF.</param>
    /// <param name="rc">Per-layer R/C of the platform.</param>
    /// <param name="capacitanceUnitFarads">Farads per capacitance unit of <paramref name="rc"/> (the Liberty's unit).</param>
    /// <param name="isOutput">Whether instance pin (instance, pin) drives its net (from the Liberty).</param>
    /// <param name="output">Where the SPEF text goes.</param>
    /// <returns>Number of nets written.</returns>
    public static int WriteSpef(DefDesign design, LayerRc rc, double capacitanceUnitFarads, Func<string, string, bool> isOutput, TextWriter output)
    {
        double um = design.DatabaseUnitsPerMicron > 0 ? design.DatabaseUnitsPerMicron : 1000;
        double toPf = capacitanceUnitFarads / 1e-12;
        var signal = rc.SignalLayer is not null && rc.Layers.TryGetValue(rc.SignalLayer, out var sl) ? sl : rc.Layers.Values.First();
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine("*SPEF \"ieee 1481-1999\"");
        output.WriteLine($"*DESIGN \"{design.Name}\"");
        output.WriteLine("*DATE \"" + DateTime.UtcNow.ToString("ddd MMM dd HH:mm:ss yyyy", inv) + "\"");
        output.WriteLine("*VENDOR \"MLNetExt\"\n*PROGRAM \"DefParasiticsExtractor\"\n*VERSION \"1.0\"");
        output.WriteLine("*DESIGN_FLOW \"NAME_SCOPE LOCAL\" \"PIN_CAP NONE\"\n*DIVIDER /\n*DELIMITER :\n*BUS_DELIMITER []");
        output.WriteLine("*T_UNIT 1 NS\n*C_UNIT 1 PF\n*R_UNIT 1 OHM\n*L_UNIT 1 HENRY\n");
        output.WriteLine("*PORTS");
        foreach (var pin in design.Pins.Values)
            output.WriteLine($"{SpefName(pin.Name)} {(pin.Direction.StartsWith("OUT", StringComparison.OrdinalIgnoreCase) ? 'O' : pin.Direction.StartsWith("IN", StringComparison.OrdinalIgnoreCase) && !pin.Direction.StartsWith("INOUT", StringComparison.OrdinalIgnoreCase) ? 'I' : 'B')}");
        output.WriteLine();

        int written = 0;
        var viaPairs = new Dictionary<string, (string Bottom, string Top)?>(StringComparer.Ordinal);
        foreach (var net in design.Nets.Values)
        {
            var routes = DefViaLayers.Resolve(net.Routes, rc.Stack, design.ViaLayers, viaPairs).ToList();
            var wires = routes.Where(r => r.Via is null && (r.X0 != r.X1 || r.Y0 != r.Y1) && rc.Layers.ContainsKey(r.Layer)).ToList();
            if (wires.Count == 0 || net.Connections.Count < 2) continue;
            var nodes = new Dictionary<(long, long), int>();
            int Node((long X, long Y) p) { if (!nodes.TryGetValue(p, out var id)) nodes[p] = id = nodes.Count; return id; }
            foreach (var w in wires) { Node((w.X0, w.Y0)); Node((w.X1, w.Y1)); }
            foreach (var v in routes.Where(r => r.Via is not null)) Node((v.X0, v.Y0));
            var points = nodes.Keys.ToList();
            var caps = new List<double>();
            void Cap(int node, double pf) { while (caps.Count <= node) caps.Add(0); caps[node] += pf; }
            var res = new List<(int A, int B, double Ohm)>();
            foreach (var w in wires)
            {
                var (r, c) = rc.Layers[w.Layer];
                // Split at every node lying inside the segment (T-junctions start new segments mid-wire).
                var inside = points.Where(p => OnSegment(p, w)).OrderBy(p => Math.Abs(p.Item1 - w.X0) + Math.Abs(p.Item2 - w.Y0)).ToList();
                for (int i = 0; i + 1 < inside.Count; i++)
                {
                    double len = (Math.Abs(inside[i + 1].Item1 - inside[i].Item1) + Math.Abs(inside[i + 1].Item2 - inside[i].Item2)) / um;
                    if (len == 0) continue;
                    int a = Node(inside[i]), b = Node(inside[i + 1]);
                    res.Add((a, b, len * r * 1000));
                    Cap(a, len * c * toPf / 2); Cap(b, len * c * toPf / 2);
                }
            }
            var conns = new List<(string Name, char Dir, int Node, bool Port)>();
            var nodeList = nodes.ToDictionary(kv => kv.Value, kv => kv.Key);
            foreach (var (inst, pin) in net.Connections)
            {
                (long X, long Y) at; string name; char dir;
                if (inst == "PIN")
                {
                    if (!design.Pins.TryGetValue(pin, out var port)) continue;
                    at = (port.X, port.Y); name = SpefName(pin);
                    dir = port.Direction.StartsWith("OUT", StringComparison.OrdinalIgnoreCase) ? 'I' : 'O'; // a port that is an output loads the net
                }
                else
                {
                    if (!design.Components.TryGetValue(inst, out var comp)) continue;
                    at = (comp.X, comp.Y); name = SpefName(inst) + ":" + SpefName(pin); dir = isOutput(inst, pin) ? 'O' : 'I';
                }
                int nearest = 0; long best = long.MaxValue;
                foreach (var (id, p) in nodeList)
                {
                    long d = Math.Abs(p.Item1 - at.X) + Math.Abs(p.Item2 - at.Y);
                    if (d < best) { best = d; nearest = id; }
                }
                conns.Add((name, dir, nearest, inst == "PIN"));
            }
            if (conns.Count < 2) continue;

            // Join pieces the routing leaves apart with a signal-layer wire across the gap.
            var parent = Enumerable.Range(0, nodes.Count).ToArray();
            int Find(int x) { while (parent[x] != x) x = parent[x] = parent[parent[x]]; return x; }
            foreach (var (a, b, _) in res) parent[Find(a)] = Find(b);
            int root = Find(conns[0].Node);
            foreach (var group in Enumerable.Range(0, nodes.Count).GroupBy(Find).Where(g => g.Key != Find(root)).ToList())
            {
                long best = long.MaxValue; int ba = 0, bb = 0;
                foreach (var a in group)
                    for (int b = 0; b < nodes.Count; b++)
                    {
                        if (Find(b) != Find(root)) continue;
                        long d = Math.Abs(nodeList[a].Item1 - nodeList[b].Item1) + Math.Abs(nodeList[a].Item2 - nodeList[b].Item2);
                        if (d < best) { best = d; ba = a; bb = b; }
                    }
                double len = best / um;
                res.Add((ba, bb, Math.Max(len * signal.Resistance * 1000, 1e-3)));
                Cap(ba, len * signal.Capacitance * toPf / 2); Cap(bb, len * signal.Capacitance * toPf / 2);
                parent[Find(ba)] = Find(bb);
            }

            while (caps.Count < nodes.Count) caps.Add(0);
            var netName = SpefName(net.Name);
            string NodeName(int id) => $"{netName}:{id + 1}";
            output.WriteLine($"*D_NET {netName} {caps.Sum().ToString("G6", inv)}");
            output.WriteLine("*CONN");
            foreach (var (name, dir, _, port) in conns) output.WriteLine(port ? $"*P {name} {dir}" : $"*I {name} {dir}");
            output.WriteLine("*CAP");
            int k = 1;
            for (int i = 0; i < caps.Count; i++) if (caps[i] > 0) output.WriteLine($"{k++} {NodeName(i)} {caps[i].ToString("G6", inv)}");
            output.WriteLine("*RES");
            k = 1;
            foreach (var (a, b, ohm) in res) output.WriteLine($"{k++} {NodeName(a)} {NodeName(b)} {ohm.ToString("G6", inv)}");
            foreach (var (name, _, node, _) in conns) output.WriteLine($"{k++} {name} {NodeName(node)} 0.001");
            output.WriteLine("*END\n");
            written++;
        }
        return written;
    }

    /// <summary>
    /// A DEF name in SPEF notation: DEF escapes only some characters (e.g. <c>\[</c>), SPEF needs every special character
    /// of an identifier escaped (<c>a.b$c</c> → <c>a\.b\$c</c>); unescaped <c>[ ]</c> stay bus-bit delimiters.
    /// </summary>
    public static string SpefName(string defName)
    {
        var sb = new System.Text.StringBuilder(defName.Length + 8);
        for (int i = 0; i < defName.Length; i++)
        {
            char c = defName[i];
            if (c == '\\' && i + 1 < defName.Length) { sb.Append('\\').Append(defName[++i]); continue; }
            if (char.IsLetterOrDigit(c) || c is '_' or '[' or ']') sb.Append(c);
            else sb.Append('\\').Append(c);
        }
        return sb.ToString();
    }

    private static bool OnSegment((long X, long Y) p, DefRouteSegment w) =>
        (w.Y0 == w.Y1 && p.Y == w.Y0 && p.X >= Math.Min(w.X0, w.X1) && p.X <= Math.Max(w.X0, w.X1))
        || (w.X0 == w.X1 && p.X == w.X0 && p.Y >= Math.Min(w.Y0, w.Y1) && p.Y <= Math.Max(w.Y0, w.Y1));
}
