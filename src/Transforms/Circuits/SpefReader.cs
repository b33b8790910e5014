using System.Globalization;

namespace MLNetExt.Transforms.Circuits;

/// <summary>A SPEF file could not be read; the message names the file and line.</summary>
public sealed class SpefFormatException(string file, int line, string message) : FormatException($"{file}:{line}: {message}");

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

/// <summary>Line-oriented streaming reader of IEEE 1481 SPEF (name map, ports, *D_NET with *CONN, *CAP, *RES).</summary>
public static class SpefReader
{
    /// <summary>Reads <paramref name="path"/> (plain, .gz, or tar-in-gzip).</summary>
    public static SpefDesign Read(string path)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>Reads SPEF text.</summary>
    public static SpefDesign Read(TextReader reader, string source = "<text>")
    {
        string design = "";
        double time = 1e-12, cap = 1e-12, res = 1;
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var nets = new Dictionary<string, SpefNet>(StringComparer.Ordinal);
        string section = "";
        string? netName = null;
        double total = 0;
        int netLine = 0;
        List<(string, string, string?)> conns = new();
        List<(string, double)> ground = new();
        List<(string, string, double)> coupling = new();
        List<(string, string, double)> resistors = new();
        int lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            var text = line.Trim();
            int comment = text.IndexOf("//", StringComparison.Ordinal);
            if (comment >= 0) text = text[..comment].Trim();
            if (text.Length == 0) continue;
            var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            switch (f[0])
            {
                case "*DESIGN": design = f.Length > 1 ? f[1].Trim('"') : ""; continue;
                case "*T_UNIT": time = Unit(f, lineNumber, new() { ["S"] = 1, ["MS"] = 1e-3, ["US"] = 1e-6, ["NS"] = 1e-9, ["PS"] = 1e-12, ["FS"] = 1e-15 }); continue;
                case "*C_UNIT": cap = Unit(f, lineNumber, new() { ["F"] = 1, ["UF"] = 1e-6, ["NF"] = 1e-9, ["PF"] = 1e-12, ["FF"] = 1e-15 }); continue;
                case "*R_UNIT": res = Unit(f, lineNumber, new() { ["OHM"] = 1, ["KOHM"] = 1e3, ["MOHM"] = 1e6 }); continue;
                case "*NAME_MAP": section = "map"; continue;
                case "*PORTS": section = "ports"; continue;
                case "*D_NET":
                    if (f.Length < 3) throw new SpefFormatException(source, lineNumber, "*D_NET needs a net and its total capacitance");
                    netName = Resolve(f[1]);
                    total = Number(f[2], lineNumber);
                    netLine = lineNumber;
                    conns = new(); ground = new(); coupling = new(); resistors = new();
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
            if (f[0].StartsWith('*') && section == "map" && f.Length >= 2 && char.IsDigit(f[0][1]))
            {
                names[f[0]] = f[1];
                continue;
            }
            switch (section)
            {
                case "conn" when f[0] is "*I" or "*P":
                    if (f.Length < 3) throw new SpefFormatException(source, lineNumber, $"{f[0]} needs a node and a direction");
                    int d = Array.IndexOf(f, "*D");
                    conns.Add((Resolve(f[1]), f[2], d >= 0 && d + 1 < f.Length ? f[d + 1] : null));
                    break;
                case "cap":
                    if (f.Length == 3) ground.Add((Resolve(f[1]), Number(f[2], lineNumber)));
                    else if (f.Length >= 4) coupling.Add((Resolve(f[1]), Resolve(f[2]), Number(f[3], lineNumber)));
                    else throw new SpefFormatException(source, lineNumber, "a *CAP entry is 'id node value' or 'id node node value'");
                    break;
                case "res":
                    if (f.Length < 4) throw new SpefFormatException(source, lineNumber, "a *RES entry is 'id node node value'");
                    resistors.Add((Resolve(f[1]), Resolve(f[2]), Number(f[3], lineNumber)));
                    break;
                default:
                    break; // header lines, ports list, *L entries, …
            }
        }
        if (netName is not null) throw new SpefFormatException(source, netLine, $"*D_NET {netName} has no *END");
        return new SpefDesign(design, time, cap, res, nets);

        // "*12:A" → "inst:A"; "*12" → name; other text unchanged.
        string Resolve(string node)
        {
            if (!node.StartsWith('*')) return node;
            int colon = node.IndexOf(':');
            string key = colon < 0 ? node : node[..colon];
            if (!names.TryGetValue(key, out var name)) throw new SpefFormatException(source, lineNumber, $"{key} is not in the *NAME_MAP");
            return colon < 0 ? name : name + node[colon..];
        }

        double Number(string value, int at) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new SpefFormatException(source, at, $"'{value}' is not a number");

        double Unit(string[] f, int at, Dictionary<string, double> units)
        {
            if (f.Length < 3 || !units.TryGetValue(f[2].ToUpperInvariant(), out var scale))
                throw new SpefFormatException(source, at, $"{f[0]} must be '<number> <unit>' with unit one of {string.Join(", ", units.Keys)}");
            return Number(f[1], at) * scale;
        }
    }
}
