using System.Diagnostics;

namespace MLNetExt;

/// <summary>The files of one design: netlist, placed-and-routed DEF, constraints, optional SPEF, and the platform's libraries.</summary>
/// <param name="Technology">Platform name (asap7, nangate45, sky130hd, …).</param>
/// <param name="Name">Design folder name.</param>
/// <param name="Folder">Folder holding the files (and CircuitOps IR tables, when present).</param>
/// <param name="Netlist">Structural Verilog.</param>
/// <param name="Def">Placed and routed DEF.</param>
/// <param name="Sdc">Timing constraints.</param>
/// <param name="Spef">Post-route parasitics, or null (then RC is extracted from the DEF's routing with <paramref name="SetRc"/>).</param>
/// <param name="Liberty">The platform's Liberty libraries.</param>
/// <param name="SetRc">The platform's per-layer RC (<c>setRC.tcl</c>), or null.</param>
public sealed record CircuitDesignSource(string Technology, string Name, string Folder, string Netlist, string Def, string Sdc, string? Spef,
    IReadOnlyList<string> Liberty, string? SetRc)
{
    /// <summary>"technology/name".</summary>
    public string Id => $"{Technology}/{Name}";
}

/// <summary>Figures of one built graph (the rows of the dataset table in docs).</summary>
/// <param name="Design">technology/design.</param>
/// <param name="Nodes">Pins.</param>
/// <param name="NetEdges">Net edges.</param>
/// <param name="CellArcs">Cell arcs.</param>
/// <param name="Endpoints">Timing endpoints.</param>
/// <param name="Levels">Topological levels.</param>
/// <param name="BuildSeconds">Everything (parse, RC extraction, OpenSTA, graph).</param>
/// <param name="StaSeconds">OpenSTA labelling.</param>
/// <param name="GraphSeconds">Reading netlist, DEF and Liberty and building the graph (the pre-routing pipeline itself).</param>
/// <param name="RcSeconds">SPEF extraction from the DEF routing (0 when the design has a SPEF).</param>
/// <param name="PeakMemoryBytes">Peak working set of this process.</param>
/// <param name="StaPeakMemoryBytes">Peak resident memory of the largest OpenSTA child so far.</param>
/// <param name="LabelSource">Where the labels come from.</param>
/// <param name="FromCache">Loaded from the cache instead of built.</param>
public sealed record TimingGraphStats(string Design, int Nodes, int NetEdges, int CellArcs, int Endpoints, int Levels,
    double BuildSeconds, double StaSeconds, double GraphSeconds, double RcSeconds, long PeakMemoryBytes, long StaPeakMemoryBytes, string LabelSource, bool FromCache);

/// <summary>
/// The circuit timing dataset: finds designs laid out like <c>circuitops/&lt;technology&gt;/&lt;design&gt;/6_final.*</c> with
/// <c>liberty/</c> and <c>platforms/&lt;technology&gt;/setRC.tcl</c> beside them, builds each design's labelled
/// <see cref="TimingGraph"/> (OpenSTA on the SPEF, or on RC extracted from the DEF when no SPEF exists) and caches it.
/// </summary>
public sealed class CircuitDataset
{
    /// <summary>Liberty file name patterns per technology (the libraries CircuitOps/ORFS time each platform with).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> DefaultLiberty = new Dictionary<string, string[]>
    {
        ["nangate45"] = new[] { "nangate45_typ.lib*" },
        ["sky130hd"] = new[] { "sky130hd_tt.lib*" },
        ["asap7"] = new[] { "asap7sc7p5t_*" },
    };

    /// <summary>Designs found under <paramref name="root"/> (sorted by technology, then name).</summary>
    /// <exception cref="DirectoryNotFoundException">The root or its <c>circuitops</c> folder is missing.</exception>
    public static IReadOnlyList<CircuitDesignSource> Discover(string root, IReadOnlyDictionary<string, string[]>? liberty = null)
    {
        liberty ??= DefaultLiberty;
        var designs = Path.Combine(root, "circuitops");
        if (!Directory.Exists(designs))
            throw new DirectoryNotFoundException($"no 'circuitops' folder under '{root}': expected circuitops/<technology>/<design>/6_final.v[.gz] etc.");
        var list = new List<CircuitDesignSource>();
        foreach (var techDir in Directory.GetDirectories(designs).Order(StringComparer.Ordinal))
        {
            var tech = Path.GetFileName(techDir);
            var libs = liberty.TryGetValue(tech, out var patterns)
                ? patterns.SelectMany(p => Directory.Exists(Path.Combine(root, "liberty")) ? Directory.GetFiles(Path.Combine(root, "liberty"), p) : Array.Empty<string>()).Order(StringComparer.Ordinal).ToArray()
                : Array.Empty<string>();
            var setRc = Path.Combine(root, "platforms", tech, "setRC.tcl");
            foreach (var dir in Directory.GetDirectories(techDir).Order(StringComparer.Ordinal))
            {
                string? Find(string stem) => new[] { stem, stem + ".gz" }.Select(f => Path.Combine(dir, f)).FirstOrDefault(File.Exists);
                var v = Find("6_final.v"); var def = Find("6_final.def"); var sdc = Find("6_final.sdc");
                if (v is null || def is null || sdc is null) continue;
                list.Add(new CircuitDesignSource(tech, Path.GetFileName(dir), dir, v, def, sdc, Find("6_final.spef"), libs, File.Exists(setRc) ? setRc : null));
            }
        }
        return list;
    }

    private readonly Dictionary<string, IReadOnlyList<LibertyLibrary>> _libraries = new(StringComparer.Ordinal);

    /// <summary>Largest undriven net (loads) a design may have before it is refused (see <see cref="TimingGraphBuilder.UndrivenNets"/>).</summary>
    public int MaxUndrivenLoads { get; init; } = 1000;

    /// <summary>Where built graphs are cached (<c>&lt;technology&gt;_&lt;design&gt;.tgraph</c>).</summary>
    public string CacheDirectory { get; }
    /// <summary>The OpenSTA runner that labels the graphs.</summary>
    public OpenStaRunner Sta { get; init; } = new();

    /// <summary>A dataset caching into <paramref name="cacheDirectory"/> (created when missing).</summary>
    public CircuitDataset(string cacheDirectory)
    {
        CacheDirectory = cacheDirectory;
        Directory.CreateDirectory(cacheDirectory);
    }

    /// <summary>Whether a cached graph was made by this version's builder (older ones differ in labels or arcs: rebuild).</summary>
    public static bool IsCurrent(TimingGraph cached) => cached.BuildRevision >= TimingGraphBuilder.Revision;

    /// <summary>Cache file of <paramref name="design"/>.</summary>
    public string CachePath(CircuitDesignSource design) => Path.Combine(CacheDirectory, $"{design.Technology}_{design.Name}.tgraph");

    /// <summary>
    /// The labelled graph of <paramref name="design"/>, from the cache when present and made by the current
    /// <see cref="TimingGraphBuilder.Revision"/>, else built (and cached).
    /// </summary>
    public (TimingGraph Graph, TimingGraphStats Stats) Get(CircuitDesignSource design, bool rebuild = false, CancellationToken cancellation = default)
    {
        var path = CachePath(design);
        var clock = Stopwatch.StartNew();
        if (!rebuild && File.Exists(path))
        {
            var cached = TimingGraphFile.Load(path);
            if (IsCurrent(cached)) return (cached, Stats(cached, clock.Elapsed.TotalSeconds, 0, 0, 0, 0, fromCache: true));
        }
        var graphClock = Stopwatch.StartNew();
        var libs = Libraries(design);
        var netlist = VerilogNetlistReader.Read(design.Netlist);
        var def = DefReader.Read(design.Def);
        double graphSeconds = graphClock.Elapsed.TotalSeconds;
        var undriven = TimingGraphBuilder.UndrivenNets(netlist, libs);
        if (undriven.Count > 0 && undriven[0].Loads > MaxUndrivenLoads)
            throw new TimingGraphException($"{design.Id}: net '{undriven[0].Net}' has {undriven[0].Loads:N0} loads and no driver (e.g. a clock tree cut off in the netlist). " +
                "OpenSTA would connect every load to every other one and its timing of those pins is meaningless; fix the netlist or raise CircuitDataset.MaxUndrivenLoads.");
        var rcClock = Stopwatch.StartNew();
        cancellation.ThrowIfCancellationRequested();
        string? spef = design.Spef;
        string labelSource = "OpenSTA on the design's SPEF";
        if (spef is null)
        {
            if (design.SetRc is null)
                throw new FileNotFoundException($"{design.Id} has no SPEF and no platforms/{design.Technology}/setRC.tcl to extract RC from its DEF.");
            spef = Path.Combine(CacheDirectory, $"{design.Technology}_{design.Name}.spef");
            var cells = TimingGraphBuilder.CellIndex(libs);
            using (var w = File.CreateText(spef))
                DefParasiticsExtractor.WriteSpef(def, LayerRc.Read(design.SetRc), libs[0].CapacitanceUnitFarads,
                    (inst, pin) => def.Components.TryGetValue(inst, out var c) && cells.TryGetValue(c.Cell, out var cell)
                        && cell.Cell.Pins.TryGetValue(pin, out var p) && p.Direction is "output" or "inout", w);
            labelSource = "OpenSTA on RC extracted from the DEF routing";
        }
        double rcSeconds = design.Spef is null ? rcClock.Elapsed.TotalSeconds : 0;
        var staClock = Stopwatch.StartNew();
        var labels = Sta.Run(new StaDesignFiles(design.Liberty, design.Netlist, netlist.Name, design.Sdc, spef), cancellation);
        double staSeconds = staClock.Elapsed.TotalSeconds;
        graphClock.Restart();
        var graph = TimingGraphBuilder.Build(netlist, def, libs, null, labels, design.Technology);
        graphSeconds += graphClock.Elapsed.TotalSeconds;
        graph = graph.WithLabelSource($"{labelSource} (OpenSTA {labels.Version})");
        TimingGraphFile.Save(graph, path);
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        return (graph, Stats(graph, clock.Elapsed.TotalSeconds, staSeconds, graphSeconds, rcSeconds, peak, fromCache: false));
    }

    /// <summary>
    /// The pre-routing graph of <paramref name="design"/> without labels (no OpenSTA): what a user predicting timing of a new
    /// placement builds. Returns the graph, the seconds spent reading the files and building it, and how many instances
    /// of cells missing from the libraries were left out (black boxes) when <paramref name="blackBoxUnknownCells"/>.
    /// </summary>
    public (TimingGraph Graph, double Seconds, int BlackBoxes) BuildUnlabelled(CircuitDesignSource design, bool blackBoxUnknownCells = false)
    {
        var clock = Stopwatch.StartNew();
        var libs = Libraries(design);
        var netlist = VerilogNetlistReader.Read(design.Netlist);
        var graph = TimingGraphBuilder.Build(netlist, DefReader.Read(design.Def), libs, technology: design.Technology, blackBoxUnknownCells: blackBoxUnknownCells);
        var known = TimingGraphBuilder.CellIndex(libs);
        int boxes = blackBoxUnknownCells ? netlist.Instances.Count(i => i.Connections.Count > 0 && !known.ContainsKey(i.CellType)) : 0;
        return (graph, clock.Elapsed.TotalSeconds, boxes);
    }

    private IReadOnlyList<LibertyLibrary> Libraries(CircuitDesignSource design)
    {
        if (design.Liberty.Count == 0)
            throw new FileNotFoundException($"no Liberty library for technology '{design.Technology}' of {design.Id}: put it under liberty/ and map it in CircuitDataset.DefaultLiberty.");
        var key = string.Join("|", design.Liberty);
        if (!_libraries.TryGetValue(key, out var libs))
            _libraries[key] = libs = design.Liberty.Select(LibertyParser.ReadLibrary).ToList();
        return libs;
    }

    private static TimingGraphStats Stats(TimingGraph g, double seconds, double sta, double graph, double rc, long peak, bool fromCache) =>
        new($"{g.Technology}/{g.Design}", g.NodeCount, g.NetSource.Length, g.CellSource.Length, g.IsEndpoint.Count(e => e), g.LevelCount,
            seconds, sta, graph, rc, peak, ChildPeakResidentBytes(), g.LabelSource, fromCache);

    // getrusage(RUSAGE_CHILDREN).ru_maxrss: the largest resident set of any finished child (OpenSTA), in KiB on Linux.
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, long[] usage);

    private static long ChildPeakResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        var usage = new long[18]; // struct rusage: two timevals (4 longs), then ru_maxrss
        return getrusage(-1, usage) == 0 ? usage[4] * 1024 : 0;
    }
}
