// Builds the circuit timing dataset: every design under <root>/circuitops becomes a labelled TimingGraph (OpenSTA on
// the design's SPEF, or on RC extracted from its DEF routing) cached under <cache>; writes the table of designs and the
// comparison of our OpenSTA labels with the CircuitOps IR labels to docs/benchmarks/circuits.{json,md}.
// Usage: dotnet run -c Release --project bench/CircuitDatasetBench -- [root=../shared/data/circuits] [cache=.cache/circuits] [rebuild=true] [filter]
using MLNetExt.Bench;
using Spectre.Console;
using MLNetExt;

string root = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "data", "circuits");
string cache = args.Length > 1 ? args[1] : Path.Combine(".cache", "circuits");
bool rebuild = args.Length <= 2 || bool.Parse(args[2]);
string? filter = args.Length > 3 ? args[3] : null;
if (!Directory.Exists(root)) { Console.Error.WriteLine($"circuit data not found at '{root}' (give its path as the first argument)."); return 1; }
if (!OpenStaRunner.IsAvailable) { Console.Error.WriteLine("OpenSTA ('sta') is not installed: run scripts/setup.sh (Debian package opensta)."); return 1; }

var designs = CircuitDataset.Discover(root).Where(d => filter is null || d.Id.Contains(filter, StringComparison.Ordinal)).ToList();
var dataset = new CircuitDataset(cache);
var report = new BenchReport("circuits", $"dotnet run -c Release --project bench/CircuitDatasetBench -- {string.Join(' ', args)}");
report.AddNote($"OpenSTA {dataset.Sta.Version()}; cache {Path.GetFullPath(cache)}; {designs.Count} designs. Peak memory: our process's peak working set and the largest OpenSTA child's peak resident set, both cumulative maxima in table order. 'graph build s' = reading netlist, DEF and Liberty + building the graph (the pre-routing pipeline); RC extraction and OpenSTA labelling are listed apart.");
report.AddNote("Label comparison: medians of |ours − CircuitOps| over pins in both. CircuitOps timed asap7 with FF libraries that are not shipped (we use the SS set) and its sky130hd slack is about one clock period off (see the data README), so only nangate45 is expected to match.");

await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
    .StartAsync(async ctx =>
    {
        var task = ctx.AddTask("circuit graphs", maxValue: designs.Count);
        foreach (var design in designs)
        {
            task.Description = design.Id;
            TimingGraph graph; TimingGraphStats stats;
            try
            {
                (graph, stats) = await Task.Run(() => dataset.Get(design, rebuild));
            }
            catch (TimingGraphException e)
            {
                // A design the pipeline refuses is a result too: say which and why.
                // The pre-routing graph itself can still be built (and timed): only the labels are refused.
                TimingGraph unlabelled; double seconds; int boxes;
                try { (unlabelled, seconds, boxes) = dataset.BuildUnlabelled(design, blackBoxUnknownCells: true); }
                catch (TimingGraphException)
                {
                    report.AddRow("designs", new Dictionary<string, object?> { ["design"] = design.Id, ["label source"] = "skipped: " + e.Message.Replace(design.Id + ": ", "") });
                    Console.WriteLine($"{design.Id}: skipped: {e.Message}");
                    task.Increment(1);
                    continue;
                }
                report.AddRow("designs", new Dictionary<string, object?>
                {
                    ["design"] = design.Id, ["nodes (pins)"] = unlabelled.NodeCount, ["net edges"] = unlabelled.NetSource.Length, ["cell arcs"] = unlabelled.CellSource.Length,
                    ["levels"] = unlabelled.LevelCount, ["graph build s"] = Math.Round(seconds, 1),
                    ["peak MiB (ours)"] = Math.Round(System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0),
                    ["label source"] = "no labels: " + e.Message.Replace(design.Id + ": ", "") + (boxes > 0 ? $" (graph built with {boxes:N0} instances of missing cells left out)" : ""),
                });
                Console.WriteLine($"{design.Id}: skipped: {e.Message}");
                task.Increment(1);
                continue;
            }
            report.AddRow("designs", new Dictionary<string, object?>
            {
                ["design"] = design.Id, ["nodes (pins)"] = stats.Nodes, ["net edges"] = stats.NetEdges, ["cell arcs"] = stats.CellArcs,
                ["endpoints"] = stats.Endpoints, ["levels"] = stats.Levels, ["graph build s"] = Math.Round(stats.GraphSeconds, 1),
                ["RC extraction s"] = Math.Round(stats.RcSeconds, 1), ["OpenSTA s"] = Math.Round(stats.StaSeconds, 1), ["total s"] = Math.Round(stats.BuildSeconds, 1),
                ["peak MiB (ours)"] = Math.Round(stats.PeakMemoryBytes / 1048576.0), ["peak MiB (OpenSTA, max so far)"] = Math.Round(stats.StaPeakMemoryBytes / 1048576.0),
                ["label source"] = design.Spef is null ? "OpenSTA, RC from DEF routing" : "OpenSTA, design SPEF",
            });
            var pinProperties = Path.Combine(design.Folder, "pin_properties.csv");
            if (File.Exists(pinProperties) || File.Exists(pinProperties + ".gz"))
            {
                var table = CsvTable.Read(File.Exists(pinProperties) ? pinProperties : pinProperties + ".gz");
                var c = CircuitOpsLabelComparison.Compare(graph, table);
                report.AddRow("labels vs CircuitOps", new Dictionary<string, object?>
                {
                    ["design"] = design.Id, ["pins matched"] = c.MatchedPins, ["arrival median |Δ| ps"] = Math.Round(c.ArrivalMedianPs, 3),
                    ["slew median |Δ| ps"] = Math.Round(c.SlewMedianPs, 3), ["slack median |Δ| ps"] = Math.Round(c.SlackMedianPs, 3), ["slack pins"] = c.SlackPins,
                });
            }
            task.Increment(1);
        }
    });
var (json, md) = report.Write();
Console.WriteLine(File.ReadAllText(md));
Console.WriteLine($"wrote {json} and {md}");
return 0;
