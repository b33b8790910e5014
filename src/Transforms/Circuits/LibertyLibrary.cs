
namespace MLNetExt;

/// <summary>An NLDM lookup table: values over index_1 (input transition) × index_2 (output load), in library units.</summary>
public sealed class LibertyTable
{
    /// <summary>Creates a table; <paramref name="values"/> is row-major over (index_1, index_2).</summary>
    public LibertyTable(double[] index1, double[] index2, double[] values)
    {
        if (index1.Length == 0) index1 = new[] { 0.0 };
        if (index2.Length == 0) index2 = new[] { 0.0 };
        if (values.Length != index1.Length * index2.Length)
            throw new ArgumentException($"A {index1.Length}×{index2.Length} table needs {index1.Length * index2.Length} values, got {values.Length}.");
        Index1 = index1;
        Index2 = index2;
        Values = values;
    }

    /// <summary>First axis (normally input transition).</summary>
    public double[] Index1 { get; }
    /// <summary>Second axis (normally output load); length 1 for a 1-D table.</summary>
    public double[] Index2 { get; }
    /// <summary>Row-major values.</summary>
    public double[] Values { get; }

    /// <summary>Value at (<paramref name="x"/>, <paramref name="y"/>): bilinear interpolation, linear extrapolation outside the axes (as STA tools do).</summary>
    public double Lookup(double x, double y)
    {
        var (i, tx) = Segment(Index1, x);
        var (j, ty) = Segment(Index2, y);
        int n2 = Index2.Length;
        double V(int a, int b) => Values[a * n2 + b];
        int i1 = Math.Min(i + 1, Index1.Length - 1), j1 = Math.Min(j + 1, n2 - 1);
        double top = V(i, j) + (V(i, j1) - V(i, j)) * ty;
        double bottom = V(i1, j) + (V(i1, j1) - V(i1, j)) * ty;
        return top + (bottom - top) * tx;
    }

    /// <summary>
    /// The table padded to <paramref name="size"/>×<paramref name="size"/> for a fixed-shape model: axes and values are
    /// copied into the top-left corner, the rest is zero, and the mask marks real entries.
    /// </summary>
    public (float[] Index1, float[] Index2, float[] Values, float[] Mask) Padded(int size = 7)
    {
        if (Index1.Length > size || Index2.Length > size)
            throw new ArgumentException($"A {Index1.Length}×{Index2.Length} table does not fit a {size}×{size} padding.");
        var i1 = new float[size];
        var i2 = new float[size];
        var values = new float[size * size];
        var mask = new float[size * size];
        for (int a = 0; a < Index1.Length; a++) i1[a] = (float)Index1[a];
        for (int b = 0; b < Index2.Length; b++) i2[b] = (float)Index2[b];
        for (int a = 0; a < Index1.Length; a++)
        for (int b = 0; b < Index2.Length; b++)
        {
            values[a * size + b] = (float)Values[a * Index2.Length + b];
            mask[a * size + b] = 1;
        }
        return (i1, i2, values, mask);
    }

    private static (int Index, double Fraction) Segment(double[] axis, double v)
    {
        if (axis.Length == 1) return (0, 0);
        int k = 0;
        while (k < axis.Length - 2 && v > axis[k + 1]) k++;
        double span = axis[k + 1] - axis[k];
        return (k, span == 0 ? 0 : (v - axis[k]) / span);
    }
}

/// <summary>A timing arc of an output (or sequential) pin: related pin, type, sense and its NLDM tables.</summary>
public sealed record LibertyTimingArc(string RelatedPin, string TimingType, string TimingSense, IReadOnlyDictionary<string, LibertyTable> Tables)
{
    /// <summary>The table of <paramref name="kind"/> (cell_rise, cell_fall, rise_transition, fall_transition), or null.</summary>
    public LibertyTable? Table(string kind) => Tables.TryGetValue(kind, out var t) ? t : null;
}

/// <summary>A cell pin.</summary>
public sealed record LibertyPin(string Name, string Direction, double Capacitance, double RiseCapacitance, double FallCapacitance,
    bool IsClock, IReadOnlyList<LibertyTimingArc> Timing);

/// <summary>A library cell; <paramref name="IsLatch"/> for level-sensitive storage (a <c>latch</c> group).</summary>
public sealed record LibertyCell(string Name, double Area, bool IsSequential, IReadOnlyDictionary<string, LibertyPin> Pins, bool IsLatch = false);

/// <summary>A Liberty library: units and cells with pins, capacitances and NLDM timing arcs.</summary>
public sealed class LibertyLibrary
{
    /// <summary>NLDM table kinds the timing model uses.</summary>
    public static readonly IReadOnlyList<string> TableKinds = new[] { "cell_rise", "cell_fall", "rise_transition", "fall_transition" };

    private LibertyLibrary(string name, double timeUnitSeconds, double capacitanceUnitFarads, IReadOnlyDictionary<string, LibertyCell> cells)
    {
        Name = name;
        TimeUnitSeconds = timeUnitSeconds;
        CapacitanceUnitFarads = capacitanceUnitFarads;
        Cells = cells;
    }

    /// <summary>Library name.</summary>
    public string Name { get; }
    /// <summary>Seconds per library time unit (e.g. 1e-9 for "1ns").</summary>
    public double TimeUnitSeconds { get; }
    /// <summary>Farads per library capacitance unit (e.g. 1e-15 for (1, ff)).</summary>
    public double CapacitanceUnitFarads { get; }
    /// <summary>Cells by name.</summary>
    public IReadOnlyDictionary<string, LibertyCell> Cells { get; }

    /// <summary>Builds the typed library from a parsed <c>library</c> group.</summary>
    public static LibertyLibrary From(LibertyGroup library, string source = "<text>")
    {
        if (library.Kind != "library")
            throw new LibertyFormatException(source, library.Line, $"expected a 'library' group, found '{library.Kind}'");
        double time = ParseTimeUnit(library.Attribute("time_unit") ?? "1ns", source, library.Line);
        double cap = ParseCapUnit(library.AttributeValues("capacitive_load_unit"), source, library.Line);
        var templates = Unique(library.GroupsOf("lu_table_template"), "lu_table_template", source);
        var cells = new Dictionary<string, LibertyCell>(StringComparer.Ordinal);
        foreach (var cell in Unique(library.GroupsOf("cell"), "cell", source).Values)
        {
            var pins = new Dictionary<string, LibertyPin>(StringComparer.Ordinal);
            foreach (var pin in Unique(cell.GroupsOf("pin"), $"pin of cell '{cell.Name}'", source).Values)
            {
                var arcs = new List<LibertyTimingArc>();
                foreach (var timing in pin.GroupsOf("timing"))
                {
                    var tables = new Dictionary<string, LibertyTable>();
                    foreach (var kind in TableKinds)
                    {
                        var group = timing.GroupsOf(kind).FirstOrDefault();
                        if (group is not null) tables[kind] = Table(group, templates, source);
                    }
                    foreach (var related in (timing.Attribute("related_pin") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        arcs.Add(new LibertyTimingArc(related, timing.Attribute("timing_type") ?? "combinational", timing.Attribute("timing_sense") ?? "", tables));
                }
                double c = Number(pin.Attribute("capacitance"), 0, source, pin.Line, "capacitance");
                pins[pin.Name] = new LibertyPin(pin.Name, pin.Attribute("direction") ?? "input", c,
                    Number(pin.Attribute("rise_capacitance"), c, source, pin.Line, "rise_capacitance"),
                    Number(pin.Attribute("fall_capacitance"), c, source, pin.Line, "fall_capacitance"),
                    pin.Attribute("clock") == "true", arcs);
            }
            bool sequential = cell.Groups.Any(g => g.Kind is "ff" or "latch" or "ff_bank" or "statetable");
            cells[cell.Name] = new LibertyCell(cell.Name, Number(cell.Attribute("area"), 0, source, cell.Line, "area"), sequential, pins,
                cell.Groups.Any(g => g.Kind == "latch"));
        }
        return new LibertyLibrary(library.Name, time, cap, cells);
    }

    // Groups by name, in file order; a name defined twice is refused with both lines (Liberty does not redefine cells,
    // pins or templates, and silently keeping one of the two would time the design with the wrong data).
    private static Dictionary<string, LibertyGroup> Unique(IEnumerable<LibertyGroup> groups, string what, string source)
    {
        var byName = new Dictionary<string, LibertyGroup>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            if (g.Name.Length == 0) throw new LibertyFormatException(source, g.Line, $"{what} has no name", expected: $"{g.Kind} (name)");
            if (!byName.TryAdd(g.Name, g))
                throw new LibertyFormatException(source, g.Line, $"{what} '{g.Name}' is defined twice: at line {byName[g.Name].Line} and at line {g.Line}");
        }
        return byName;
    }

    private static LibertyTable Table(LibertyGroup group, Dictionary<string, LibertyGroup> templates, string source)
    {
        templates.TryGetValue(group.Name, out var template);
        double[] Axis(string name)
        {
            var text = group.AttributeValues(name) ?? template?.AttributeValues(name);
            return text is null ? Array.Empty<double>() : LibertyParser.Numbers(string.Join(",", text), $"{group.Kind} {name}", source, group.Line);
        }
        var valuesText = group.AttributeValues("values")
            ?? throw new LibertyFormatException(source, group.Line, $"table '{group.Kind}' has no values");
        var values = LibertyParser.Numbers(string.Join(",", valuesText), $"{group.Kind} values", source, group.Line);
        var i1 = Axis("index_1");
        var i2 = Axis("index_2");
        if (i1.Length == 0 && i2.Length == 0 && values.Length == 1) return new LibertyTable(new[] { 0.0 }, new[] { 0.0 }, values); // scalar table
        // A 1-D table over load only (some libraries write index_1 as the load axis of a 1-D template): keep it as n×1.
        int expected = Math.Max(1, i1.Length) * Math.Max(1, i2.Length);
        if (values.Length != expected)
            throw new LibertyFormatException(source, group.Line, $"table '{group.Kind} ({group.Name})' has {values.Length} values for a {i1.Length}×{Math.Max(1, i2.Length)} index");
        return new LibertyTable(i1, i2, values);
    }

    private static double Number(string? text, double fallback, string source, int line, string what)
    {
        if (text is null) return fallback;
        return CircuitNumbers.TryFinite(text, out var v)
            ? v : throw new LibertyFormatException(source, line, $"{what}: {CircuitNumbers.Problem(text)}", expected: "a finite number");
    }

    private static double ParseTimeUnit(string text, string source, int line)
    {
        var t = text.Trim().ToLowerInvariant();
        int k = 0;
        while (k < t.Length && (char.IsDigit(t[k]) || t[k] == '.')) k++;
        double scale = 1;
        if (k > 0 && (!CircuitNumbers.TryFinite(t[..k], out scale) || scale <= 0))
            throw new LibertyFormatException(source, line, $"time_unit '{CircuitNumbers.Clip(text)}': the scale must be a positive number", expected: "e.g. \"1ns\"");
        return t[k..] switch
        {
            "s" => scale, "ms" => scale * 1e-3, "us" => scale * 1e-6, "ns" => scale * 1e-9, "ps" => scale * 1e-12, "fs" => scale * 1e-15,
            _ => throw new LibertyFormatException(source, line, $"time_unit '{CircuitNumbers.Clip(text)}' is not a time unit (1s, 1ms, 1us, 1ns, 1ps, 1fs)", expected: "e.g. \"1ns\""),
        };
    }

    private static double ParseCapUnit(IReadOnlyList<string>? values, string source, int line)
    {
        if (values is null || values.Count < 2) return 1e-12; // Liberty's default is 1 pF
        if (!CircuitNumbers.TryFinite(values[0].Trim(), out double scale) || scale <= 0)
            throw new LibertyFormatException(source, line, $"capacitive_load_unit scale '{CircuitNumbers.Clip(values[0])}' is not a positive number", expected: "capacitive_load_unit (1, ff)");
        return values[1].Trim().ToLowerInvariant() switch
        {
            "pf" => scale * 1e-12, "ff" => scale * 1e-15, "nf" => scale * 1e-9, "uf" => scale * 1e-6,
            _ => throw new LibertyFormatException(source, line, $"capacitive_load_unit '{CircuitNumbers.Clip(values[1])}' is not a capacitance unit (pf, ff, nf, uf)", expected: "capacitive_load_unit (1, ff)"),
        };
    }
}
