using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetExt.Bench;

/// <summary>
/// A benchmark's results: named tables of rows, notes, plots, and the environment and command that produced them.
/// Writes <c>docs/benchmarks/NAME.json</c> and <c>NAME.md</c> (plots beside them). A benchmark run in several
/// configurations keeps one report: each configuration is a section of NAME.md/json with its own command, date and
/// machine, and running a configuration again replaces its section only.
/// </summary>
public sealed class BenchReport
{
    private readonly List<(string Title, List<string> Columns, List<Dictionary<string, object?>> Rows)> _tables = new();
    private readonly List<string> _notes = new();
    private readonly List<string> _plots = new();

    /// <summary>Starts a report for benchmark <paramref name="name"/> run by <paramref name="command"/>.</summary>
    /// <param name="name">Benchmark name (file stem).</param>
    /// <param name="command">The command that reproduces the figures.</param>
    /// <param name="configuration">The section this run fills in the benchmark's report, or null for a report of one run.</param>
    public BenchReport(string name, string command, string? configuration = null)
    {
        Name = name;
        Command = command;
        Configuration = configuration;
        Started = DateTime.UtcNow;
    }

    /// <summary>Benchmark name (file stem).</summary>
    public string Name { get; }
    /// <summary>The command that reproduces the figures.</summary>
    public string Command { get; }
    /// <summary>The section of the benchmark's report this run fills, or null for a report of one run.</summary>
    public string? Configuration { get; }
    /// <summary>When the run started (UTC).</summary>
    public DateTime Started { get; }

    /// <summary>Adds a row to table <paramref name="table"/> (created on first use; column order = first appearance).</summary>
    public void AddRow(string table, IReadOnlyDictionary<string, object?> row)
    {
        var t = _tables.FirstOrDefault(x => x.Title == table);
        if (t.Title is null)
        {
            t = (table, new List<string>(), new List<Dictionary<string, object?>>());
            _tables.Add(t);
        }
        foreach (var key in row.Keys) if (!t.Columns.Contains(key)) t.Columns.Add(key);
        t.Rows.Add(new Dictionary<string, object?>(row));
    }

    /// <summary>Adds a sentence shown under the tables.</summary>
    public void AddNote(string note) => _notes.Add(note);

    /// <summary>Records a plot file (relative to the report folder) to link from the Markdown.</summary>
    public void AddPlot(string fileName) => _plots.Add(fileName);

    /// <summary>
    /// The file name of this run's plot <paramref name="kind"/>: NAME-KIND.png, or NAME-CONFIGURATION-KIND.png so that
    /// each configuration's section shows its own plot.
    /// </summary>
    public string PlotFileName(string kind) => Configuration is null ? $"{Name}-{kind}.png" : $"{Name}-{Configuration}-{kind}.png";

    /// <summary>Folder <c>docs/benchmarks</c> of the repository containing the current directory.</summary>
    public static string DefaultDirectory()
    {
        var dir = new DirectoryInfo(Directory.GetCurrentDirectory());
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) dir = dir.Parent;
        var root = dir?.FullName ?? Directory.GetCurrentDirectory();
        var path = Path.Combine(root, "docs", "benchmarks");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// Writes NAME.json and NAME.md into <paramref name="directory"/> (default docs/benchmarks). With a
    /// <see cref="Configuration"/>, the other configurations already in NAME.json are kept.
    /// </summary>
    public (string Json, string Markdown) Write(string? directory = null)
    {
        directory ??= DefaultDirectory();
        Directory.CreateDirectory(directory);
        var jsonPath = Path.Combine(directory, Name + ".json");
        var run = new JsonObject
        {
            ["command"] = Command,
            ["started_utc"] = Started.ToString("O", CultureInfo.InvariantCulture),
            ["finished_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["environment"] = new JsonObject(Environment().Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["tables"] = new JsonObject(_tables.Select(t => KeyValuePair.Create(t.Title, (JsonNode?)new JsonArray(
                t.Rows.Select(r => (JsonNode?)new JsonObject(r.Select(kv => KeyValuePair.Create(kv.Key, ToNode(kv.Value))))).ToArray())))),
            ["notes"] = new JsonArray(_notes.Select(n => (JsonNode?)n).ToArray()),
            ["plots"] = new JsonArray(_plots.Select(p => (JsonNode?)p).ToArray()),
        };
        JsonObject json;
        if (Configuration is null)
        {
            json = new JsonObject { ["name"] = Name };
            foreach (var (key, value) in run.ToList()) { run.Remove(key); json[key] = value; }
        }
        else
        {
            var configurations = new JsonObject();
            if (File.Exists(jsonPath) && JsonNode.Parse(File.ReadAllText(jsonPath))?["configurations"] is JsonObject earlier)
                foreach (var (key, value) in earlier.ToList())
                {
                    earlier.Remove(key);
                    configurations[key] = value;
                }
            configurations[Configuration] = run; // replaces this configuration's previous run in place
            json = new JsonObject { ["name"] = Name, ["configurations"] = configurations };
        }
        File.WriteAllText(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var mdPath = Path.Combine(directory, Name + ".md");
        File.WriteAllText(mdPath, Markdown(json));
        return (jsonPath, mdPath);
    }

    /// <summary>The Markdown of a report's JSON: one run, or a section per configuration.</summary>
    public static string Markdown(JsonObject report)
    {
        var md = new StringBuilder();
        md.AppendLine($"# Benchmark: {report["name"]}").AppendLine();
        if (report["configurations"] is JsonObject configurations)
        {
            md.AppendLine("One section per configuration of this benchmark. Each configuration was run on its own: its command, " +
                          "date and machine are in its section, and running it again replaces that section only.").AppendLine();
            md.AppendLine(string.Join(" · ", configurations.Select(c => $"[{c.Key}](#{c.Key})"))).AppendLine();
            foreach (var (configuration, run) in configurations)
            {
                md.AppendLine($"## {configuration}").AppendLine();
                AppendRun(md, (JsonObject)run!, "###");
            }
        }
        else AppendRun(md, report, "##");
        return md.ToString().TrimEnd() + "\n";
    }

    private static void AppendRun(StringBuilder md, JsonObject run, string tableHeading)
    {
        var started = DateTime.Parse((string)run["started_utc"]!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        var env = run["environment"]!.AsObject().Select(kv => $"{kv.Key} {kv.Value}");
        md.AppendLine($"Command: `{run["command"]}`  ").AppendLine($"Run: {started:yyyy-MM-dd HH:mm} UTC, {string.Join(", ", env)}").AppendLine();
        foreach (var (title, rowsNode) in run["tables"]!.AsObject())
        {
            var rows = rowsNode!.AsArray().Select(r => r!.AsObject()).ToList();
            var columns = rows.SelectMany(r => r.Select(kv => kv.Key)).Distinct().ToList();
            md.AppendLine($"{tableHeading} {title}").AppendLine();
            md.AppendLine("| " + string.Join(" | ", columns) + " |");
            md.AppendLine("|" + string.Concat(columns.Select(_ => "---|")));
            foreach (var r in rows) md.AppendLine("| " + string.Join(" | ", columns.Select(c => Format(r[c]))) + " |");
            md.AppendLine();
        }
        foreach (var p in run["plots"]?.AsArray() ?? new JsonArray()) md.AppendLine($"![{p}]({p})").AppendLine();
        foreach (var n in run["notes"]!.AsArray()) md.AppendLine($"- {n}");
        md.AppendLine();
    }

    private static JsonNode? ToNode(object? v) => v switch
    {
        null => null,
        double d => double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture)),
        float f => float.IsFinite(f) ? JsonValue.Create(f) : JsonValue.Create(f.ToString(CultureInfo.InvariantCulture)),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        bool b => JsonValue.Create(b),
        _ => JsonValue.Create(v.ToString()),
    };

    /// <summary>Markdown cell text: 4 significant digits for floating point values.</summary>
    public static string Format(object? v) => v switch
    {
        null => "",
        double d => d.ToString("G4", CultureInfo.InvariantCulture),
        float f => f.ToString("G4", CultureInfo.InvariantCulture),
        JsonValue j => j.GetValueKind() switch
        {
            // Whole numbers in full (counts, parameters), others as doubles are; the same whether the value was just
            // measured or read back from the JSON file.
            JsonValueKind.Number => double.Parse(j.ToJsonString(), CultureInfo.InvariantCulture) is var n && n == Math.Floor(n) && Math.Abs(n) < 1e15
                ? n.ToString("0", CultureInfo.InvariantCulture) : Format(double.Parse(j.ToJsonString(), CultureInfo.InvariantCulture)),
            JsonValueKind.True => bool.TrueString,
            JsonValueKind.False => bool.FalseString,
            _ => j.ToString(),
        },
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Machine facts recorded with every report.</summary>
    public static Dictionary<string, string> Environment() => new()
    {
        ["cores"] = System.Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        [".NET"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
    };
}

/// <summary>Repeated measurements and their summary statistics.</summary>
public static class Measure
{
    /// <summary>Median of <paramref name="values"/> (mean of the two middle values for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) throw new ArgumentException("No values.", nameof(values));
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Sample standard deviation (n − 1 in the denominator) of <paramref name="values"/>; 0 for fewer than two.</summary>
    public static double StandardDeviation(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length < 2) return 0;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }

    /// <summary>Runs <paramref name="action"/> <paramref name="warmup"/> times unmeasured, then <paramref name="repeats"/> times, returning milliseconds.</summary>
    public static double[] Milliseconds(Action action, int repeats, int warmup = 1)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        return times;
    }

    /// <summary>Peak working set of this process so far, in MiB.</summary>
    public static double PeakWorkingSetMiB() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
}
