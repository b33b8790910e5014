namespace MLNetExt;

/// <summary>A net's parasitics (values in the file's units; see <see cref="SpefDesign"/> for the scales).</summary>
/// <param name="Name">Net name (name map resolved).</param>
/// <param name="TotalCapacitance">Total capacitance from the *D_NET line.</param>
/// <param name="Connections">Pins on the net: node ("inst:pin" or port name), direction (I, O, B), cell when given.</param>
/// <param name="GroundCaps">Capacitance to ground per node.</param>
/// <param name="CouplingCaps">Coupling capacitance between a node of this net and another node.</param>
/// <param name="Resistors">Resistors between nodes.</param>
public sealed record SpefNet(string Name, double TotalCapacitance, IReadOnlyList<(string Node, string Direction, string? Cell)> Connections,
    IReadOnlyList<(string Node, double Value)> GroundCaps, IReadOnlyList<(string Node, string Other, double Value)> CouplingCaps,
    IReadOnlyList<(string From, string To, double Value)> Resistors);

/// <summary>A SPEF file: units and per-net parasitics.</summary>
public sealed record SpefDesign(string Name, double TimeUnitSeconds, double CapacitanceUnitFarads, double ResistanceUnitOhms,
    IReadOnlyDictionary<string, SpefNet> Nets);

/// <summary>
/// Line-oriented streaming reader of IEEE 1481 SPEF (name map, ports, *D_NET with *CONN, *CAP, *RES). The header
/// (<c>*SPEF</c>, <c>*DESIGN</c>) and at least one <c>*D_NET</c> are required; a net, name-map entry, connection or
/// *CAP/*RES id defined twice is refused with both lines; values must be finite.
/// </summary>
public static class SpefReader
{
    /// <summary>Reads <paramref name="path"/> (plain, .gz, or tar-in-gzip).</summary>
    /// <param name="path">The SPEF file.</param>
    /// <param name="requiredNets">
    /// Nets the file must describe (normally the routed nets of the netlist); a SPEF without one of them is refused as
    /// incomplete. SPEF has no end marker, so this is how a file cut between two nets is caught.
    /// </param>
    public static SpefDesign Read(string path, IEnumerable<string>? requiredNets = null)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Read(reader, Path.GetFileName(path), requiredNets);
    }

    /// <summary>Reads SPEF text; see <see cref="Read(string, IEnumerable{string})"/> for <paramref name="requiredNets"/>.</summary>
    /// <exception cref="SpefFormatException">The text is malformed or incomplete; the message names the source and line.</exception>
    public static SpefDesign Read(TextReader reader, string source = "<text>", IEnumerable<string>? requiredNets = null)
    {
        string design = "";
        double time = 1e-12, cap = 1e-12, res = 1;
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var nameLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var nets = new Dictionary<string, SpefNet>(StringComparer.Ordinal);
        var netLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new Dictionary<(string Section, string Id), int>(); // *CONN nodes and *CAP/*RES ids of the current net
        int headerLine = 0, designLine = 0;
        string section = "";
        string? netName = null;
        double total = 0;
        int netLine = 0;
        List<(string, string, string?)> conns = new();
        List<(string, double)> ground = new();
        List<(string, string, double)> coupling = new();
        List<(string, string, double)> resistors = new();
        var lines = new LineReader(reader, source, InputLimits.MaxLineLength, (file, at, message) => new SpefFormatException(file, at, message));
        int lineNumber = 0;
        string? line;
        while ((line = lines.ReadLine()) is not null)
        {
            lineNumber = lines.LineNumber;
            var text = line.Trim();
            int comment = text.IndexOf("//", StringComparison.Ordinal);
            if (comment >= 0) text = text[..comment].Trim();
            if (text.Length == 0) continue;
            var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (headerLine == 0 && f[0] != "*SPEF")
                throw new SpefFormatException(source, lineNumber, $"expected the '*SPEF \"version\"' header, found '{CircuitNumbers.Clip(f[0])}' (is this a SPEF file?)", expected: "*SPEF");
            switch (f[0])
            {
                case "*SPEF":
                    if (headerLine != 0) throw new SpefFormatException(source, lineNumber, $"a second *SPEF header (the first is at line {headerLine})");
                    headerLine = lineNumber;
                    continue;
                case "*DESIGN":
                    if (designLine != 0) throw new SpefFormatException(source, lineNumber, $"*DESIGN is given twice: at line {designLine} and at line {lineNumber}");
                    designLine = lineNumber;
                    design = f.Length > 1 ? f[1].Trim('"') : "";
                    continue;
                case "*T_UNIT": time = Unit(f, lineNumber, new() { ["S"] = 1, ["MS"] = 1e-3, ["US"] = 1e-6, ["NS"] = 1e-9, ["PS"] = 1e-12, ["FS"] = 1e-15 }); continue;
                case "*C_UNIT": cap = Unit(f, lineNumber, new() { ["F"] = 1, ["UF"] = 1e-6, ["NF"] = 1e-9, ["PF"] = 1e-12, ["FF"] = 1e-15 }); continue;
                case "*R_UNIT": res = Unit(f, lineNumber, new() { ["OHM"] = 1, ["KOHM"] = 1e3, ["MOHM"] = 1e6 }); continue;
                case "*NAME_MAP": section = "map"; continue;
                case "*PORTS": section = "ports"; continue;
                case "*D_NET":
                    if (netName is not null) throw new SpefFormatException(source, lineNumber, $"*D_NET inside *D_NET {netName} (line {netLine}): its *END is missing", expected: "*END");
                    if (f.Length < 3) throw new SpefFormatException(source, lineNumber, "*D_NET needs a net and its total capacitance", expected: "*D_NET net total_cap");
                    if (designLine == 0) throw new SpefFormatException(source, lineNumber, "*D_NET before the *DESIGN header line", expected: "*DESIGN");
                    netName = Resolve(f[1]);
                    if (!netLines.TryAdd(netName, lineNumber))
                        throw new SpefFormatException(source, lineNumber, $"*D_NET {netName} is defined twice: at line {netLines[netName]} and at line {lineNumber}");
                    total = Number(f[2], lineNumber, $"*D_NET {netName} total capacitance");
                    netLine = lineNumber;
                    conns = new(); ground = new(); coupling = new(); resistors = new();
                    ids.Clear();
                    section = "net";
                    continue;
                case "*CONN": section = "conn"; continue;
                case "*CAP": section = "cap"; continue;
                case "*RES": section = "res"; continue;
                case "*END":
                    if (netName is null) throw new SpefFormatException(source, lineNumber, "*END without *D_NET");
                    nets[netName] = new SpefNet(netName, total, conns, ground, coupling, resistors);
                    netName = null;
                    section = "";
                    continue;
            }
            if (f[0].StartsWith('*') && section == "map" && f.Length >= 2 && f[0].Length > 1 && char.IsDigit(f[0][1]))
            {
                if (!nameLines.TryAdd(f[0], lineNumber))
                    throw new SpefFormatException(source, lineNumber, $"name map entry {f[0]} is defined twice: at line {nameLines[f[0]]} and at line {lineNumber}");
                names[f[0]] = f[1];
                continue;
            }
            switch (section)
            {
                case "conn" when f[0] is "*I" or "*P":
                    if (f.Length < 3) throw new SpefFormatException(source, lineNumber, $"{f[0]} needs a node and a direction");
                    int d = Array.IndexOf(f, "*D");
                    var node = Resolve(f[1]);
                    Once("*CONN", node);
                    conns.Add((node, f[2], d >= 0 && d + 1 < f.Length ? f[d + 1] : null));
                    break;
                case "cap":
                    Once("*CAP", f[0]);
                    if (f.Length == 3) ground.Add((Resolve(f[1]), Number(f[2], lineNumber, $"*CAP {f[0]} of net {netName}")));
                    else if (f.Length >= 4) coupling.Add((Resolve(f[1]), Resolve(f[2]), Number(f[3], lineNumber, $"*CAP {f[0]} of net {netName}")));
                    else throw new SpefFormatException(source, lineNumber, "a *CAP entry is 'id node value' or 'id node node value'");
                    break;
                case "res":
                    if (f.Length < 4) throw new SpefFormatException(source, lineNumber, "a *RES entry is 'id node node value'");
                    Once("*RES", f[0]);
                    resistors.Add((Resolve(f[1]), Resolve(f[2]), Number(f[3], lineNumber, $"*RES {f[0]} of net {netName}")));
                    break;
                default:
                    break; // header lines, ports list, *L entries, …
            }
        }
        if (netName is not null) throw new SpefFormatException(source, netLine, $"*D_NET {netName} has no *END", expected: "*END");
        if (headerLine == 0) throw new SpefFormatException(source, lineNumber, "the file is empty: no *SPEF header", expected: "*SPEF");
        if (nets.Count == 0) throw new SpefFormatException(source, lineNumber, "the file holds no *D_NET (truncated after the header?)", expected: "*D_NET");
        if (requiredNets is not null)
        {
            var missing = requiredNets.Where(n => !nets.ContainsKey(n)).ToList();
            if (missing.Count > 0)
                throw new SpefFormatException(source, lineNumber,
                    $"{missing.Count:N0} net(s) of the netlist have no *D_NET (truncated file?), e.g. {string.Join(", ", missing.Take(3))}");
        }
        return new SpefDesign(design, time, cap, res, nets);

        // A *CONN node or *CAP/*RES id may appear once per net.
        void Once(string what, string id)
        {
            if (!ids.TryAdd((what, id), lineNumber))
                throw new SpefFormatException(source, lineNumber, $"{what} {id} of net {netName} is given twice: at line {ids[(what, id)]} and at line {lineNumber}");
        }

        // "*12:A" → "inst:A"; "*12" → name; other text unchanged.
        string Resolve(string node)
        {
            if (!node.StartsWith('*')) return node;
            int colon = node.IndexOf(':');
            string key = colon < 0 ? node : node[..colon];
            if (!names.TryGetValue(key, out var name)) throw new SpefFormatException(source, lineNumber, $"{key} is not in the *NAME_MAP");
            return colon < 0 ? name : name + node[colon..];
        }

        double Number(string value, int at, string field) => CircuitNumbers.TryFinite(value, out var v)
            ? v : throw new SpefFormatException(source, at, $"{field}: {CircuitNumbers.Problem(value)}", expected: "a finite number");

        double Unit(string[] f, int at, Dictionary<string, double> units)
        {
            if (f.Length < 3 || !units.TryGetValue(f[2].ToUpperInvariant(), out var scale))
                throw new SpefFormatException(source, at, $"{f[0]} must be '<number> <unit>' with unit one of {string.Join(", ", units.Keys)}");
            double value = Number(f[1], at, f[0]);
            if (value <= 0) throw new SpefFormatException(source, at, $"{f[0]}: the scale {f[1]} must be positive", expected: "a positive number");
            return value * scale;
        }
    }
}
