using System.Globalization;

namespace MLNetExt.Transforms.Circuits;

/// <summary>A CircuitOps IR table could not be read; the message names the file, line and column.</summary>
public sealed class CircuitOpsFormatException(string file, int line, string message) : FormatException($"{file}:{line}: {message}");

/// <summary>A CSV table with named columns (CircuitOps IR: <c>pin_properties.csv</c>, <c>pin_pin_edge.csv</c>, …).</summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, int> _columns;
    private readonly List<string[]> _rows;
    private readonly List<int> _lines;

    private CsvTable(string source, string[] header, List<string[]> rows, List<int> lines)
    {
        Source = source;
        Columns = header;
        _columns = header.Select((h, i) => (h, i)).ToDictionary(x => x.h, x => x.i, StringComparer.Ordinal);
        _rows = rows;
        _lines = lines;
    }

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

    /// <summary>Reads CSV text whose first line is the header. Fields may be quoted ("a,b").</summary>
    public static CsvTable Read(TextReader reader, string source = "<text>")
    {
        var headerLine = reader.ReadLine() ?? throw new CircuitOpsFormatException(source, 1, "the file is empty (no header line)");
        var header = Split(headerLine);
        var rows = new List<string[]>();
        var lines = new List<int>();
        int lineNumber = 1;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var fields = Split(line);
            if (fields.Length != header.Length)
                throw new CircuitOpsFormatException(source, lineNumber, $"{fields.Length} fields but the header has {header.Length} ({string.Join(",", header)})");
            rows.Add(fields);
            lines.Add(lineNumber);
        }
        return new CsvTable(source, header, rows, lines);
    }

    /// <summary>The text of <paramref name="column"/> in row <paramref name="row"/>.</summary>
    public string Text(int row, string column) => _rows[row][Index(column)];

    /// <summary>The number in <paramref name="column"/> of row <paramref name="row"/> (error names file, line and column).</summary>
    public double Number(int row, string column)
    {
        var text = _rows[row][Index(column)];
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new CircuitOpsFormatException(Source, _lines[row], $"column '{column}': '{text}' is not a number");
    }

    /// <summary>True when the table has <paramref name="column"/>.</summary>
    public bool Has(string column) => _columns.ContainsKey(column);

    private int Index(string column) => _columns.TryGetValue(column, out var i)
        ? i : throw new CircuitOpsFormatException(Source, 1, $"no column '{column}'; the columns are {string.Join(", ", Columns)}");

    private static string[] Split(string line)
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
        if (tables.Count == 0) throw new InvalidDataException($"{folder} holds no CircuitOps IR tables (*.csv, *.csv.gz).");
        return new CircuitOpsDesign(folder, tables);
    }
}
