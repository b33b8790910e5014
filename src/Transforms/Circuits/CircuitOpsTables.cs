namespace MLNetExt;

/// <summary>
/// What a known CircuitOps IR table must hold: its required columns, the columns whose values identify a row (unique),
/// the numeric columns (checked when the file is read: finite numbers only), and among those the ones where
/// <c>NaN</c> or <c>None</c> means "not available" (CircuitOps writes that for cells without inputs, e.g. decaps).
/// </summary>
public sealed record CircuitOpsTableSchema(string Name, IReadOnlyList<string> Required, IReadOnlyList<string> Key,
    IReadOnlyList<string> Numeric, IReadOnlyList<string> Optional)
{
    private static CircuitOpsTableSchema Of(string name, string required, string key, string numeric, string optional = "")
    {
        static string[] Words(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return new(name, Words(required), Words(key), Words(numeric), Words(optional));
    }

    private const string EdgeColumns = "src tar src_type tar_type";

    /// <summary>The schemas of the CircuitOps IR tables, by table name (file name without .csv / .csv.gz).</summary>
    public static IReadOnlyDictionary<string, CircuitOpsTableSchema> Known { get; } = new[]
    {
        Of("pin_properties", "pin_name x y is_in_clk is_port is_startpoint is_endpoint dir maxcap maxtran num_reachable_endpoint cell_name net_name pin_tran pin_slack pin_rise_arr pin_fall_arr input_pin_cap",
            "pin_name", "x y is_in_clk is_port is_startpoint is_endpoint maxcap maxtran num_reachable_endpoint pin_tran pin_slack pin_rise_arr pin_fall_arr input_pin_cap"),
        Of("cell_properties", "cell_name is_seq is_macro is_in_clk x0 y0 x1 y1 is_filler is_buf is_inv libcell_name cell_static_power cell_dynamic_power",
            "cell_name", "is_seq is_macro is_in_clk x0 y0 x1 y1 is_filler is_buf is_inv cell_static_power cell_dynamic_power"),
        Of("net_properties", "net_name net_route_length net_steiner_length fanout total_cap net_cap net_coupling net_res",
            "net_name", "net_route_length net_steiner_length fanout total_cap net_cap net_coupling net_res"),
        Of("libcell_properties", "libcell_name func_id libcell_area worst_input_cap libcell_leakage fo4_delay fix_load_delay",
            "libcell_name", "func_id libcell_area worst_input_cap libcell_leakage fo4_delay fix_load_delay", "worst_input_cap libcell_leakage fo4_delay fix_load_delay"),
        Of("pin_pin_edge", "src tar src_type tar_type is_net arc_delay", "src tar", "is_net arc_delay"),
        Of("cell_pin_edge", EdgeColumns, "src tar", ""),
        Of("net_pin_edge", EdgeColumns, "src tar", ""),
        Of("cell_net_edge", EdgeColumns, "", ""), // a cell may connect to a net through several pins
        Of("cell_cell_edge", EdgeColumns, "", ""),
    }.ToDictionary(s => s.Name, StringComparer.Ordinal);

    /// <summary>The schema of the table stored in <paramref name="fileName"/> (e.g. "pin_properties.csv.gz"), or null for other tables.</summary>
    public static CircuitOpsTableSchema? ForFile(string fileName)
    {
        int at = fileName.IndexOf(".csv", StringComparison.Ordinal);
        return at > 0 && Known.TryGetValue(fileName[..at], out var schema) ? schema : null;
    }
}

/// <summary>A CSV table with named columns (CircuitOps IR: <c>pin_properties.csv</c>, <c>pin_pin_edge.csv</c>, …).</summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, int> _columns;
    private readonly List<string[]> _rows;
    private readonly List<int> _lines;
    private readonly HashSet<string> _optional;

    private CsvTable(string source, string[] header, Dictionary<string, int> columns, List<string[]> rows, List<int> lines, CircuitOpsTableSchema? schema)
    {
        Source = source;
        Columns = header;
        _columns = columns;
        _rows = rows;
        _lines = lines;
        Schema = schema;
        _optional = new HashSet<string>(schema?.Optional ?? Array.Empty<string>(), StringComparer.Ordinal);
    }

    /// <summary>The schema the table was checked against (from its file name), or null for a table of unknown kind.</summary>
    public CircuitOpsTableSchema? Schema { get; }

    /// <summary>File name (for messages).</summary>
    public string Source { get; }
    /// <summary>Column names in file order.</summary>
    public IReadOnlyList<string> Columns { get; }
    /// <summary>Number of data rows.</summary>
    public int Count => _rows.Count;

    /// <summary>Reads <paramref name="path"/> (.csv or .csv.gz).</summary>
    public static CsvTable Read(string path)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>
    /// Reads CSV text whose first line is the header. Fields may be quoted ("a,b"). When <paramref name="source"/> names a
    /// known CircuitOps table (<see cref="CircuitOpsTableSchema.Known"/>), its required columns, unique key and numeric
    /// columns are checked as the file is read. Every row must end with a line break, so a file cut inside its last row
    /// is refused.
    /// </summary>
    /// <exception cref="CircuitOpsFormatException">The text is malformed; the message names the source, line and column.</exception>
    public static CsvTable Read(TextReader reader, string source = "<text>")
    {
        var lineReader = new LineReader(reader, source, InputLimits.MaxLineLength, (file, at, message) => new CircuitOpsFormatException(file, at, message));
        var headerLine = lineReader.ReadLine() ?? throw new CircuitOpsFormatException(source, 1, "the file is empty (no header line)", expected: "a header line");
        var header = Split(headerLine, source, 1);
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < header.Length; i++)
            if (!columns.TryAdd(header[i], i))
                throw new CircuitOpsFormatException(source, 1, $"column '{CircuitNumbers.Clip(header[i])}' appears twice in the header (columns {columns[header[i]] + 1} and {i + 1})", i + 1);
        var schema = CircuitOpsTableSchema.ForFile(source);
        int[] key = Array.Empty<int>(), numeric = Array.Empty<int>();
        var optional = new HashSet<int>();
        if (schema is not null)
        {
            var missing = schema.Required.Where(c => !columns.ContainsKey(c)).ToList();
            if (missing.Count > 0)
                throw new CircuitOpsFormatException(source, 1, $"{schema.Name} needs the column(s) {string.Join(", ", missing)}; the header has {CircuitNumbers.Clip(string.Join(",", header))}",
                    expected: string.Join(",", schema.Required));
            key = schema.Key.Select(c => columns[c]).ToArray();
            numeric = schema.Numeric.Select(c => columns[c]).ToArray();
            foreach (var c in schema.Optional) optional.Add(columns[c]);
        }
        var keyLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var rows = new List<string[]>();
        var lines = new List<int>();
        string? line;
        while ((line = lineReader.ReadLine()) is not null)
        {
            int lineNumber = lineReader.LineNumber;
            if (line.Length == 0) continue;
            if (!lineReader.Terminated)
                throw new CircuitOpsFormatException(source, lineNumber, "the last line has no line break: the file is truncated (CircuitOps tables end every row with one)", expected: "a line break");
            var fields = Split(line, source, lineNumber);
            if (fields.Length != header.Length)
                throw new CircuitOpsFormatException(source, lineNumber, $"{fields.Length} fields but the header has {header.Length} ({CircuitNumbers.Clip(string.Join(",", header))})");
            foreach (int c in numeric)
                if (!CircuitNumbers.TryFinite(fields[c], out _) && !(optional.Contains(c) && IsMissing(fields[c])))
                    throw new CircuitOpsFormatException(source, lineNumber, $"column '{header[c]}': {CircuitNumbers.Problem(fields[c])}", c + 1,
                        optional.Contains(c) ? "a finite number, NaN or None" : "a finite number");
            if (key.Length > 0)
            {
                string k = string.Join("\u0001", key.Select(c => fields[c]));
                if (!keyLines.TryAdd(k, lineNumber))
                    throw new CircuitOpsFormatException(source, lineNumber,
                        $"row key ({string.Join(", ", key.Select(c => $"{header[c]}={CircuitNumbers.Clip(fields[c])}"))}) appears twice: at line {keyLines[k]} and at line {lineNumber}");
            }
            rows.Add(fields);
            lines.Add(lineNumber);
        }
        return new CsvTable(source, header, columns, rows, lines, schema);
    }

    private static bool IsMissing(string text) => text is "NaN" or "None";

    /// <summary>The text of <paramref name="column"/> in row <paramref name="row"/>.</summary>
    public string Text(int row, string column) => _rows[row][Index(column)];

    /// <summary>
    /// The number in <paramref name="column"/> of row <paramref name="row"/>: a finite value, or NaN where the schema lets
    /// the column say "not available" (<c>NaN</c>, <c>None</c>). Anything else is refused naming file, line and column.
    /// </summary>
    public double Number(int row, string column)
    {
        int index = Index(column);
        var text = _rows[row][index];
        if (CircuitNumbers.TryFinite(text, out var v)) return v;
        if (_optional.Contains(column) && IsMissing(text)) return double.NaN;
        throw new CircuitOpsFormatException(Source, _lines[row], $"column '{column}': {CircuitNumbers.Problem(text)}", index + 1, "a finite number");
    }

    /// <summary>True when the table has <paramref name="column"/>.</summary>
    public bool Has(string column) => _columns.ContainsKey(column);

    private int Index(string column) => _columns.TryGetValue(column, out var i)
        ? i : throw new CircuitOpsFormatException(Source, 1, $"no column '{column}'; the columns are {string.Join(", ", Columns)}");

    private static string[] Split(string line, string source, int lineNumber)
    {
        var fields = SplitFields(line);
        if (fields is null) throw new CircuitOpsFormatException(source, lineNumber, "a quoted field is not closed", expected: "'\"'");
        return fields;
    }

    private static string[]? SplitFields(string line)
    {
        if (!line.Contains('"')) return line.Split(',');
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '"') { if (quoted && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; } else quoted = !quoted; }
            else if (c == ',' && !quoted) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        if (quoted) return null;
        fields.Add(current.ToString());
        return fields.ToArray();
    }
}

/// <summary>The CircuitOps IR tables of one design folder (the ones present; upstream omits some).</summary>
public sealed class CircuitOpsDesign
{
    private CircuitOpsDesign(string folder, IReadOnlyDictionary<string, CsvTable> tables)
    {
        Folder = folder;
        Tables = tables;
    }

    /// <summary>The design folder.</summary>
    public string Folder { get; }
    /// <summary>Tables by name without extension (pin_properties, pin_pin_edge, cell_properties, net_properties, …).</summary>
    public IReadOnlyDictionary<string, CsvTable> Tables { get; }

    /// <summary>The table <paramref name="name"/>, or null when the folder does not have it.</summary>
    public CsvTable? Table(string name) => Tables.TryGetValue(name, out var t) ? t : null;

    /// <summary>Reads every <c>*.csv</c> and <c>*.csv.gz</c> of <paramref name="folder"/>.</summary>
    public static CircuitOpsDesign Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"CircuitOps design folder not found: {folder}");
        var tables = new Dictionary<string, CsvTable>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(folder).Where(f => f.EndsWith(".csv") || f.EndsWith(".csv.gz")).OrderBy(f => f, StringComparer.Ordinal))
        {
            var name = Path.GetFileName(file);
            name = name[..name.IndexOf(".csv", StringComparison.Ordinal)];
            tables[name] = CsvTable.Read(file);
        }
        if (tables.Count == 0) throw new CircuitOpsFormatException(folder, 0, "the folder holds no CircuitOps IR tables (*.csv, *.csv.gz)");
        return new CircuitOpsDesign(folder, tables);
    }
}
