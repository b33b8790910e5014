// Fuzzes every input reader (Liberty, Verilog, DEF, SPEF, CircuitOps CSV, PragWorld JSONL, IDX) with seeded mutations
// of real inputs — the same engine as tests/MLNetExt.Tests/Fuzz — and writes the outcome table per format and per
// mutation to docs/benchmarks/reader-fuzz.{json,md,png}. Each case runs with a 10 s and 256 MB limit.
// Usage: dotnet run -c Release --project bench/ReaderFuzzBench -- [cases per format=2000] [seed=1]
using System.Globalization;
using MLNetExt.Bench;
using MLNetExt.Fuzz;

int perFormat = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
int seed = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
var root = ReaderFuzzer.RepositoryRoot(Directory.GetCurrentDirectory())
    ?? ReaderFuzzer.RepositoryRoot(AppContext.BaseDirectory) ?? throw new InvalidOperationException("run inside the repository (MLNetExt.sln not found)");
var shared = ReaderFuzzer.SharedCircuits(root);
var formats = ReaderFuzzer.Formats(shared, root, out var skipped);
foreach (var s in skipped) Console.Error.WriteLine($"skipped: {s}");

var work = Directory.CreateTempSubdirectory("mlnx-reader-fuzz").FullName;
var report = new BenchReport("reader-fuzz", $"dotnet run -c Release --project bench/ReaderFuzzBench -- {perFormat} {seed}");
var fuzzer = new ReaderFuzzer(work);
var all = new List<FuzzCase>();
try
{
    foreach (var format in formats)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var cases = fuzzer.Run(format, perFormat, seed * 1_000_003);
        all.AddRange(cases);
        var t = ReaderFuzzer.Tally(cases);
        Console.WriteLine($"{format.Name,-16} {cases.Count,6} cases in {watch.Elapsed.TotalSeconds,6:F1} s: " +
            string.Join(", ", t.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key} {kv.Value}")));
        report.AddRow("outcomes per format", new Dictionary<string, object?>
        {
            ["format"] = format.Name, ["input"] = $"{format.FileName} ({format.Original.Length / 1024.0:F0} KiB)", ["tried"] = cases.Count,
            ["clear error"] = t[FuzzOutcome.Clear], ["accepted, right result"] = t[FuzzOutcome.Accepted], ["record-boundary prefix"] = t[FuzzOutcome.Prefix],
            ["bad crash"] = t[FuzzOutcome.Crash], ["silent wrong"] = t[FuzzOutcome.Silent], ["memory"] = t[FuzzOutcome.Memory], ["hang"] = t[FuzzOutcome.Hang],
            ["median ms"] = Math.Round(Measure.Median(cases.Select(c => c.Seconds * 1000)), 2),
            ["max ms"] = Math.Round(cases.Max(c => c.Seconds * 1000), 1),
            ["max MiB allocated"] = Math.Round(cases.Max(c => c.AllocatedBytes) / 1048576.0, 1),
        });
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

foreach (var mutation in ReaderFuzzer.Mutations)
{
    var cases = all.Where(c => c.Mutation == mutation).ToList();
    var t = ReaderFuzzer.Tally(cases);
    report.AddRow("outcomes per mutation (all formats)", new Dictionary<string, object?>
    {
        ["mutation"] = mutation.ToString(), ["tried"] = cases.Count, ["clear error"] = t[FuzzOutcome.Clear], ["accepted, right result"] = t[FuzzOutcome.Accepted],
        ["record-boundary prefix"] = t[FuzzOutcome.Prefix], ["bad crash"] = t[FuzzOutcome.Crash], ["silent wrong"] = t[FuzzOutcome.Silent],
        ["memory"] = t[FuzzOutcome.Memory], ["hang"] = t[FuzzOutcome.Hang],
    });
}
foreach (var c in all.Where(c => c.Outcome is FuzzOutcome.Crash or FuzzOutcome.Silent or FuzzOutcome.Memory or FuzzOutcome.Hang).Take(50))
    report.AddRow("problems (first 50)", new Dictionary<string, object?> { ["format"] = c.Format, ["case"] = c.Index, ["mutation"] = c.Mutation.ToString(), ["outcome"] = c.Outcome.ToString(), ["detail"] = c.Detail.Replace("|", "\\|").ReplaceLineEndings(" ") });
foreach (var f in formats)
    foreach (var c in all.Where(c => c.Format == f.Name && c.Outcome == FuzzOutcome.Clear).DistinctBy(c => c.Mutation).Take(4))
        report.AddRow("sample clear errors", new Dictionary<string, object?> { ["format"] = f.Name, ["mutation"] = c.Mutation.ToString(), ["message"] = c.Detail.Replace("|", "\\|").ReplaceLineEndings(" ") });

report.AddNote($"Seeds: case i of a format uses Random(seed × 1,000,003 + i); the mutation kind cycles through the {ReaderFuzzer.Mutations.Length} kinds. Inputs: the shared nangate45/gcd files (Verilog, DEF, SPEF decompressed; net_properties.csv), osu018_stdcells.lib, 12 conversations from ConversationGenerator(seed 7), and 16 Fashion-MNIST test images.");
report.AddNote("Oracle: a truncation, a deleted bracket (where brackets nest) or a damaged gzip must fail or give exactly the unmutated input's result; an empty file, a duplicated item (cell, instance, component/net, *D_NET, CSV row, conversation, IDX image) must fail; Liberty/JSON nesting beyond the limit must fail or (inside a comment) change nothing; every accepted result must hold only finite numbers. Other mutations may give a different valid input.");
report.AddNote("SPEF is read with the routed nets of the same design's DEF as the nets it must cover (SPEF has no end marker, so a file cut between two nets is only caught that way).");
report.AddNote("'record-boundary prefix': a truncation exactly after a complete CSV row or JSONL line. These formats have no end marker or record count, so the cut file is a valid shorter file; it reads as exactly the first rows of the original (checked), and no reader can tell it apart. A cut anywhere else in a row is refused (every row must end with a line break).");
report.AddNote("Limits per case: 10 s wall time and 256 MiB allocated on the reading thread (GC.GetAllocatedBytesForCurrentThread, an upper bound on the case's managed peak). 'median ms' is the median wall time per case, including writing the input file.");
foreach (var s in skipped) report.AddNote($"Skipped: {s}.");

var dir = BenchReport.DefaultDirectory();
var byFormat = formats.Select(f => (f.Name, Value: 100.0 * all.Count(c => c.Format == f.Name && c.Outcome == FuzzOutcome.Clear) / Math.Max(1, all.Count(c => c.Format == f.Name)))).ToList();
Plots.Bars(Path.Combine(dir, "reader-fuzz.png"), $"Mutations refused with a clear error ({perFormat:N0} per format; the rest read right)", "% of cases", byFormat, width: 1000);
report.AddPlot("reader-fuzz.png");
var (json, md) = report.Write(dir);
Console.WriteLine($"wrote {json} and {md}");
int bad = all.Count(c => c.Outcome is FuzzOutcome.Crash or FuzzOutcome.Silent or FuzzOutcome.Memory or FuzzOutcome.Hang);
Console.WriteLine($"{all.Count} cases, {bad} bad crash / silent wrong / memory / hang");
return bad == 0 ? 0 : 2;
