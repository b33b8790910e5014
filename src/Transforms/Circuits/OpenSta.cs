using System.Diagnostics;
using System.Globalization;

namespace MLNetExt;

/// <summary>The files OpenSTA needs to time one design.</summary>
/// <param name="Liberty">Liberty libraries (plain or .gz).</param>
/// <param name="Netlist">Structural Verilog (plain, .gz or tar-in-gzip).</param>
/// <param name="TopModule">Top module name.</param>
/// <param name="Sdc">Constraints (plain or .gz).</param>
/// <param name="Spef">Post-route parasitics (plain or .gz); null times the design without wire parasitics.</param>
public sealed record StaDesignFiles(IReadOnlyList<string> Liberty, string Netlist, string TopModule, string Sdc, string? Spef);

/// <summary>OpenSTA's timing of one pin, in nanoseconds; corners ordered EarlyRise, EarlyFall, LateRise, LateFall; NaN = none.</summary>
public sealed record StaPinTiming(float[] Arrival, float[] Slew, float[] Slack, bool HasTimingCheck)
{
    /// <summary>Required time per corner (arrival + slack; NaN where either is unknown).</summary>
    public float[] Required => Arrival.Zip(Slack, (a, s) => a + s).ToArray();
}

/// <summary>An edge of OpenSTA's timing graph: role (wire, combinational, Reg_Clk_to_Q, setup, hold, …) and worst delay per corner (ns).</summary>
public sealed record StaEdgeTiming(string From, string To, string Role, float[] Delay)
{
    /// <summary>True for timing checks (setup/hold/recovery/removal…), which carry no signal.</summary>
    public bool IsCheck => Role is "setup" or "hold" or "recovery" or "removal" or "width" or "period" or "skew" or "nochange";
    /// <summary>True for net (interconnect) edges driver → load.</summary>
    public bool IsWire => Role == "wire";
}

/// <summary>Everything OpenSTA reported for a design: per-pin timing and per-edge delays, in nanoseconds.</summary>
public sealed class StaTimingReport
{
    /// <summary>Timing by pin name (instance/pin or port name, backslash escapes removed).</summary>
    public required IReadOnlyDictionary<string, StaPinTiming> Pins { get; init; }
    /// <summary>All edges of OpenSTA's timing graph.</summary>
    public required IReadOnlyList<StaEdgeTiming> Edges { get; init; }
    /// <summary>OpenSTA's version string.</summary>
    public string Version { get; init; } = "";

    /// <summary>Parses the dump written by <c>OpenStaDump.tcl</c> (values in seconds) into nanoseconds.</summary>
    /// <exception cref="FormatException">A line is malformed; the message names the source and line.</exception>
    public static StaTimingReport Parse(TextReader reader, string source = "<text>", string version = "")
    {
        var pins = new Dictionary<string, StaPinTiming>(StringComparer.Ordinal);
        var edges = new List<StaEdgeTiming>();
        int lineNo = 0;
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var f = line.Split(' ');
            float Ns(int i) => Seconds(f[i], source, lineNo);
            float[] Four(int at) => new[] { Ns(at), Ns(at + 1), Ns(at + 2), Ns(at + 3) };
            if (f[0] == "P" && f.Length == 15)
            {
                // Several vertices (bidirectional pins) keep the first, which is the driver side.
                pins.TryAdd(PinName(f[1]), new StaPinTiming(Four(2), Four(6), Four(10), f[14] == "1"));
            }
            else if (f[0] == "E" && f.Length == 8)
                edges.Add(new StaEdgeTiming(PinName(f[1]), PinName(f[2]), f[3], Four(4)));
            else
                throw new FormatException($"{source}:{lineNo}: expected 'P <pin> <12 values> <0|1>' or 'E <from> <to> <role> <4 values>', found '{Truncate(line)}'");
        }
        return new StaTimingReport { Pins = pins, Edges = edges, Version = version };
    }

    /// <summary>Pin names are compared without Verilog/STA backslash escapes.</summary>
    public static string PinName(string name) => name.Contains('\\') ? name.Replace("\\", "") : name;

    private static float Seconds(string text, string source, int line)
    {
        if (text is "nan" or "NaN" or "-nan") return float.NaN;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            throw new FormatException($"{source}:{line}: '{text}' is not a number");
        return Math.Abs(v) >= 1e29 ? float.NaN : (float)(v * 1e9); // OpenSTA's ±1e30 means "no path"
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";
}

/// <summary>
/// Times a design with OpenSTA (<c>sta</c>, Debian package <c>opensta</c>): writes a Tcl script that reads the Liberty,
/// netlist, SDC and SPEF, dumps every pin's arrival, slew and slack and every timing-graph edge's delay, and parses it.
/// These are the labels of <see cref="TimingGraph"/>: the same engine OpenROAD embeds, on the post-route parasitics.
/// </summary>
public sealed class OpenStaRunner
{
    /// <summary>Path of the <c>sta</c> executable (default: <c>sta</c> on PATH, else <c>/usr/bin/sta</c>).</summary>
    public string Executable { get; init; } = FindExecutable() ?? "/usr/bin/sta";
    /// <summary>How long one run may take before it is killed.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>True when an OpenSTA executable is available.</summary>
    public static bool IsAvailable => FindExecutable() is not null;

    private static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin"))
        {
            var p = Path.Combine(dir, "sta");
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Times <paramref name="files"/>; inputs are decompressed into a temporary folder that is deleted afterwards.</summary>
    /// <exception cref="FileNotFoundException">An input file or the <c>sta</c> executable is missing.</exception>
    /// <exception cref="InvalidOperationException">OpenSTA failed; the message quotes its error output.</exception>
    public StaTimingReport Run(StaDesignFiles files, CancellationToken cancellation = default)
    {
        if (!File.Exists(Executable))
            throw new FileNotFoundException($"OpenSTA not found at '{Executable}'. Install it with 'sudo apt-get install opensta' (scripts/setup.sh does).", Executable);
        var dir = Directory.CreateTempSubdirectory("mlnetext-sta-");
        try
        {
            string Local(string path, string name)
            {
                if (!File.Exists(path)) throw new FileNotFoundException($"Timing input not found: {path}", path);
                var target = Path.Combine(dir.FullName, name);
                using (var reader = CircuitFiles.OpenText(path))
                using (var writer = File.CreateText(target))
                {
                    var buffer = new char[1 << 16];
                    for (int n; (n = reader.Read(buffer, 0, buffer.Length)) > 0;) writer.Write(buffer, 0, n);
                }
                return target;
            }
            var libs = files.Liberty.Select((l, i) => Local(l, $"lib{i}.lib")).ToList();
            var netlist = Local(files.Netlist, "design.v");
            var sdc = Local(files.Sdc, "design.sdc");
            var spef = files.Spef is null ? null : Local(files.Spef, "design.spef");
            var dump = Path.Combine(dir.FullName, "timing.txt");
            var script = Path.Combine(dir.FullName, "run.tcl");
            using (var w = File.CreateText(script))
            {
                foreach (var l in libs) w.WriteLine($"read_liberty {{{l}}}");
                w.WriteLine($"read_verilog {{{netlist}}}");
                w.WriteLine($"link_design {{{files.TopModule}}}");
                w.WriteLine($"read_sdc {{{sdc}}}");
                if (spef is not null) w.WriteLine($"read_spef {{{spef}}}");
                w.WriteLine($"set ::mlnetext_dump_path {{{dump}}}");
                using var resource = typeof(OpenStaRunner).Assembly.GetManifestResourceStream("MLNetExt.Circuits.OpenStaDump.tcl")!;
                using var text = new StreamReader(resource);
                w.Write(text.ReadToEnd());
            }
            var (code, stdout, stderr) = Execute(Executable, new[] { "-no_init", "-no_splash", "-exit", script }, cancellation);
            var errors = string.Join("\n", (stdout + "\n" + stderr).Split('\n').Where(l => l.StartsWith("Error", StringComparison.Ordinal)
                || l.Contains("syntax error", StringComparison.Ordinal))); // OpenSTA only warns when it skips a malformed SPEF
            if (code != 0 || errors.Length > 0 || !File.Exists(dump))
                throw new InvalidOperationException($"OpenSTA failed on {files.Netlist} (exit code {code}): {(errors.Length > 0 ? errors : stderr.Trim())}");
            using var reader = File.OpenText(dump);
            return StaTimingReport.Parse(reader, "OpenSTA dump of " + Path.GetFileName(files.Netlist), Version());
        }
        finally
        {
            try { dir.Delete(recursive: true); } catch (IOException) { }
        }
    }

    private string? _version;

    /// <summary>OpenSTA's version (e.g. 2.0.17); asked once per runner, not once per design.</summary>
    public string Version() => _version ??= Execute(Executable, new[] { "-version" }, default).Stdout.Trim();

    private (int Code, string Stdout, string Stderr) Execute(string exe, string[] args, CancellationToken cancellation)
    {
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {exe}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellation);
        var stderr = process.StandardError.ReadToEndAsync(cancellation);
        try
        {
            if (!process.WaitForExitAsync(cancellation).Wait(Timeout))
                throw new TimeoutException($"OpenSTA did not finish within {Timeout}.");
        }
        catch (Exception)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
