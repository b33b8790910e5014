// PreRoutGNN benchmark: train on some designs, test on designs never seen in training (split by design), and compare
// PreRoutGNN with a TimingGCN-style model, the ablations (no pre-training / no residual / no LUT attention) and an ML.NET
// FastTree regressor on per-pin hand features, all in one run; plus peak memory with and without the order-preserving
// partition on one design (each measured in its own process).
// Usage: dotnet run -c Release --project bench/PreRoutGnnBench -- <cache> <train,...> <validation,...> <test,...>
//        [epochs=200] [pretrainEpochs=200] [seeds=1] [models=all] [partitionDesign=] [partitionNodes=] [pinsPerEpoch=0 (all)] [trainWindow=50000] [configuration=default]
//        [levelErrors=false] [partitionModel=preroutgnn] [partitionSeeds=1] [partitionEpochs=min(epochs,10)]
//        [partitionStepPerPiece=true (false: one optimiser step per epoch, gradients summed over the pieces, as the reference)]
//   levelErrors: for each model's first seed, arrival error by level on the test designs, one-step (teacher-forced, from
//   the true predecessor states) vs sequential (from the primary inputs): does the error come from each step or from
//   accumulating steps?
//   design ids are cache file stems (technology_design, see bench/CircuitDatasetBench).
//   models: comma list of preroutgnn,timinggcn,nopretrain,noresidual,noattention,cellresidual,units,units-cellresidual,
//           units-cellresidual-nopretrain,units-lookup,units-lookup-wire(-tables|-cellsta(-tables(-nopretrain|-noresidual|-noattention)|-nopretrain|-noresidual|-noattention)),sta-lookup,sta-lookup-wire (NLDM tables only, no learning),units-cellresidual-selffeed (scheduled sampling 0.5),
//           units-cellresidual-invariant (step MLPs blind to arrival times),units-cellresidual-invariant-selffeed,fasttree
//   child mode for memory: -- memory <cache> <design> <partitionNodes> <epochs> <model> <seed> <test,...> [pretrainEpochs] [stepPerPiece]
using System.Diagnostics;
using Microsoft.ML;
using MLNetExt;
using MLNetExt.Bench;
using TorchSharp;

if (args.Length > 0 && args[0] == "memory") return Memory(args);
if (args.Length < 4) { Console.Error.WriteLine("usage: <cache> <train,...> <validation,...> <test,...> [epochs] [pretrainEpochs] [seeds] [models] [partitionDesign] [partitionNodes]"); return 2; }
string cache = args[0];
List<string> Files(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(cache, d + ".tgraph")).ToList();
List<TimingGraph> Load(List<string> files) => files.Select(path =>
{
    if (!File.Exists(path)) throw new FileNotFoundException($"{path} not found: build the dataset with bench/CircuitDatasetBench first.");
    var graph = TimingGraphFile.Load(path);
    if (!CircuitDataset.IsCurrent(graph))
        throw new InvalidDataException($"{path} was built by an older graph builder (revision {graph.BuildRevision}, now {TimingGraphBuilder.Revision}); rebuild the cache with bench/CircuitDatasetBench.");
    return graph;
}).ToList();
var (trainFiles, validationFiles) = (Files(args[1]), Files(args[2]));
var train = Load(trainFiles); var validation = Load(validationFiles); var test = Load(Files(args[3]));
var context = new MLContext(seed: 0);
int epochs = args.Length > 4 ? int.Parse(args[4]) : 200;
int pretrain = args.Length > 5 ? int.Parse(args[5]) : 200;
int seeds = args.Length > 6 ? int.Parse(args[6]) : 1;
var models = (args.Length > 7 ? args[7] : "preroutgnn,timinggcn,nopretrain,noresidual,noattention,cellresidual,fasttree").Split(',').ToHashSet();
string? partitionDesign = args.Length > 8 && args[8].Length > 0 ? args[8] : null;
int partitionNodes = args.Length > 9 ? int.Parse(args[9]) : 0;
int pinsPerEpoch = args.Length > 10 ? int.Parse(args[10]) : 0;
int trainWindow = args.Length > 11 ? int.Parse(args[11]) : 50_000;
// The section of docs/benchmarks/preroutgnn.md this run fills (a later run of the same configuration replaces it).
string configuration = args.Length > 12 ? args[12] : "default";
bool levelErrors = args.Length > 13 && bool.Parse(args[13]);
string partitionModel = args.Length > 14 && args[14].Length > 0 ? args[14] : "preroutgnn";
int partitionSeeds = args.Length > 15 ? int.Parse(args[15]) : 1;
int partitionEpochs = args.Length > 16 ? int.Parse(args[16]) : Math.Min(epochs, 10);
bool partitionStepPerPiece = args.Length <= 17 || bool.Parse(args[17]);
torch.set_num_threads(Environment.ProcessorCount);

var report = new BenchReport("preroutgnn", $"dotnet run -c Release --project bench/PreRoutGnnBench -- {string.Join(' ', args.Select(a => a.Length == 0 ? "\"\"" : a))}", configuration);
string Names(IEnumerable<TimingGraph> gs) => string.Join(", ", gs.Select(g => $"{g.Technology}/{g.Design} ({g.NodeCount:N0} pins)"));
if (models.Any(m => m.Length > 0))
{
    report.AddNote($"Train: {Names(train)}. Validation (weight selection): {Names(validation)}. Test (never seen): {Names(test)}.");
    report.AddNote($"{epochs} epochs of about {(pinsPerEpoch == 0 ? "all" : pinsPerEpoch.ToString("N0"))} pins (training pieces of ≤ {trainWindow:N0} pins), {pretrain} pre-training epochs, {seeds} seed(s); medians over seeds. R² per corner then averaged; slack R² over endpoints (worst late slack = required − predicted arrival). Weights: the best mean validation slack R² among the network before timing training and every 10th epoch.");
}
var perModel = new Dictionary<string, List<TimingMetrics>>();
var curves = new List<(string, double[], double[])>();

var architectures = ArchitectureTable();
foreach (var (key, name, arch) in architectures.Where(a => models.Contains(a.Key)))
{
    for (int seed = 0; seed < seeds; seed++)
    {
        var sw = Stopwatch.StartNew();
        var options = BenchOptions(arch, seed, epochs, pretrain);
        options.PinsPerEpoch = pinsPerEpoch; options.PartitionNodes = trainWindow;
        options.Progress = new Progress<TrainingProgress>(p => { if (p.Epoch % 20 == 0) Console.WriteLine($"  {name} seed {seed} epoch {p.Epoch} loss {p.TrainLoss:F4} val(1−R²) {p.ValidationLoss:F3} {p.Elapsed.TotalSeconds:F0}s"); });
        using var model = context.Regression.Trainers.PreRoutGnn(options)
            .Fit(TimingGraphDataView.Designs(context, trainFiles), validationFiles.Count > 0 ? TimingGraphDataView.Designs(context, validationFiles) : null);
        double seconds = sw.Elapsed.TotalSeconds;
        var (per, mean) = model.Evaluate(test);
        Record(name, seed, per, mean, seconds, model.Network.parameters().Sum(p => p.numel()));
        var losses = model.TrainingReport!.Training.TrainLoss;
        if (seed == 0) curves.Add((name, Enumerable.Range(1, losses.Count).Select(i => (double)i).ToArray(), losses.ToArray()));
        if (seed == 0 && levelErrors) AddLevelErrors(name, model.Network, test);
    }
}

// Pre-routing STA from the NLDM tables alone (no learning): the network's learned parts contribute nothing (the last
// layers of the net step, the cell step's delay outputs and the reduce MLP are zero), so a sink takes its driver's state
// and an output pin the early-min / late-max of its arcs' table reads at the input slew and the pin (+ wire) load.
var staRuns = new[] { ("sta-lookup", false), ("sta-lookup-wire", true) }.Where(k => models.Contains(k.Item1)).ToList();
if (staRuns.Count > 0)
    report.AddNote("NLDM lookup STA rows learn nothing: a one-step fit on the training designs only builds the network, whose net-step, reduce and cell-delay output layers are then zeroed (the two load factors stay within one Adam step of 1).");
foreach (var (_, wire) in staRuns)
{
    var arch = new PreRoutGnnArchitecture
    {
        Pretraining = false, DesignUnits = true, CellStep = CellStepKind.TableCorrection, TableLoad = wire ? TableLoad.PinAndWireCapacitance : TableLoad.PinCapacitance,
    };
    var sw = Stopwatch.StartNew();
    using var model = context.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { Architecture = arch, Epochs = 1, PretrainEpochs = 0, PinsPerEpoch = 1, Seed = 0 })
        .Fit(TimingGraphDataView.Designs(context, trainFiles));
    model.Network.ResetToTables();
    var (per, mean) = model.Evaluate(test);
    var staName = wire ? "NLDM lookup STA, pin + wire load (no learning)" : "NLDM lookup STA, pin load (no learning)";
    Record(staName, 0, per, mean, sw.Elapsed.TotalSeconds, 0);
    if (levelErrors) AddLevelErrors(staName, model.Network, test);
}

if (models.Contains("fasttree"))
{
    // Per-pin hand features (node features, level, fan-in/out) → arrival per corner; slack from the predicted arrival.
    var ml = new MLContext(seed: 0);
    var sw = Stopwatch.StartNew();
    var trainView = ml.Data.FilterByCustomPredicate<TimingPinRow>(TimingGraphDataView.Pins(ml, train), r => r.Level == 0 || r.Arrival.Any(float.IsNaN));
    var predictions = new float[4][][];
    for (int c = 0; c < 4; c++)
    {
        int corner = c;
        var pipeline = ml.Transforms.CustomMapping<TimingPinRow, CornerLabel>((r, o) => o.Label = r.Arrival[corner], contractName: null)
            .Append(ml.Transforms.Concatenate("X", nameof(TimingPinRow.Features), nameof(TimingPinRow.Level), nameof(TimingPinRow.Degree)))
            .Append(ml.Regression.Trainers.FastTree(labelColumnName: "Label", featureColumnName: "X", numberOfLeaves: 31, numberOfTrees: 300));
        var model = pipeline.Fit(trainView);
        predictions[c] = test.Select(g => ml.Data.CreateEnumerable<ScoreRow>(model.Transform(TimingGraphDataView.Pins(ml, new[] { g })), reuseRowObject: false).Select(s => s.Score).ToArray()).ToArray();
    }
    var per = test.Select((g, k) =>
    {
        var arrival = new float[g.NodeCount * 4];
        for (int i = 0; i < g.NodeCount; i++) for (int c = 0; c < 4; c++) arrival[i * 4 + c] = predictions[c][k][i];
        return Metrics(g, arrival);
    }).ToList();
    Record("FastTree (per-pin features)", 0, per, TimingMetrics.Average(per), sw.Elapsed.TotalSeconds, 0);
}

foreach (var (name, list) in perModel)
    report.AddRow("held-out designs (median over seeds)", new Dictionary<string, object?>
    {
        ["model"] = name, ["slack R²"] = R(Measure.Median(list.Select(m => m.SlackR2))), ["arrival R²"] = R(Measure.Median(list.Select(m => m.ArrivalR2))),
        ["ln-slew R²"] = R(Measure.Median(list.Select(m => m.SlewR2))), ["ln net delay R²"] = R(Measure.Median(list.Select(m => m.NetDelayR2))),
        ["cell delay R²"] = R(Measure.Median(list.Select(m => m.CellDelayR2))), ["runs"] = list.Count,
    });

if (partitionDesign is not null && partitionNodes > 0)
{
    // Whole graph vs windows, each (model, seed) in its own process so that its peak working set is its own. Both use the
    // main runs' learning rate and clip, the same seed and epochs; accuracy on the design itself and on the test designs.
    var partitionArch = ArchitectureTable().Single(a => a.Key == partitionModel);
    var partitionRuns = new Dictionary<string, List<double[]>>();
    for (int seed = 0; seed < partitionSeeds; seed++)
    {
        foreach (var nodes in new[] { int.MaxValue / 2, partitionNodes })
        {
            var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
            // Under `dotnet run` this process is the app host itself; under `dotnet x.dll` the host needs the dll first.
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") info.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (var a in new[] { "memory", cache, partitionDesign, nodes.ToString(), partitionEpochs.ToString(), partitionModel, seed.ToString(), args[3], Math.Min(partitionEpochs, pretrain).ToString(), partitionStepPerPiece.ToString() })
                info.ArgumentList.Add(a);
            using var child = Process.Start(info)!;
            var output = child.StandardOutput.ReadToEnd();
            child.WaitForExit();
            var result = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"partition child run failed (exit {child.ExitCode}):\n{output}");
            var v = result.Split(' ').Skip(1).Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray(); // pieces, peak bytes, s/epoch, arrival, slack, held-out arrival, held-out slack
            string label = nodes == partitionNodes ? $"windows of {partitionNodes:N0} pins" : "none (whole graph)";
            (partitionRuns.TryGetValue(label, out var l) ? l : partitionRuns[label] = new()).Add(v);
            Console.WriteLine($"partition {label} seed {seed}: {result}");
            report.AddRow("partition on one design, per seed", new Dictionary<string, object?>
            {
                ["design"] = partitionDesign, ["model"] = partitionArch.Name, ["partition"] = label, ["seed"] = seed, ["pieces"] = (int)v[0],
                ["peak working set MiB"] = Math.Round(v[1] / 1048576), ["s per epoch"] = Math.Round(v[2], 2),
                ["arrival R² (train design)"] = R(v[3]), ["slack R² (train design)"] = R(v[4]),
                ["arrival R² (test designs)"] = R(v[5]), ["slack R² (test designs)"] = R(v[6]),
            });
        }
    }
    foreach (var (label, runs) in partitionRuns)
    {
        double Med(int k) => Measure.Median(runs.Select(r => r[k]));
        report.AddRow("partition on one design (median over seeds)", new Dictionary<string, object?>
        {
            ["design"] = partitionDesign, ["model"] = partitionArch.Name, ["partition"] = label, ["pieces"] = (int)runs[0][0],
            ["peak working set MiB"] = Math.Round(Med(1) / 1048576), ["s per epoch"] = Math.Round(Med(2), 2),
            ["arrival R² (train design)"] = R(Med(3)), ["slack R² (train design)"] = R(Med(4)),
            ["arrival R² (test designs)"] = R(Med(5)), ["slack R² (test designs)"] = R(Med(6)), ["runs"] = runs.Count,
        });
    }
    report.AddNote($"Partition: {partitionArch.Name} trained on {partitionDesign} alone for {partitionEpochs} epochs ({Math.Min(partitionEpochs, pretrain)} pre-training epochs), whole graph vs windows of {partitionNodes:N0} pins (± 4 context levels), {(partitionStepPerPiece ? "one optimiser step per piece" : "one optimiser step per epoch with the pieces' gradients averaged (the reference)")}, each run in its own process; R² of the sequential prediction on the design itself and averaged over the test designs.");
}

var dir = BenchReport.DefaultDirectory();
if (curves.Count > 0)
{
    Plots.Lines(Path.Combine(dir, report.PlotFileName("training-loss")), "Training loss (teacher forcing), seed 0", "epoch", "loss", curves);
    report.AddPlot(report.PlotFileName("training-loss"));
}
var (json, md) = report.Write();
Console.WriteLine(File.ReadAllText(md));
return 0;

void Record(string name, int seed, IReadOnlyList<TimingMetrics> per, TimingMetrics mean, double seconds, long parameters)
{
    foreach (var m in per)
        report.AddRow("per design and run", new Dictionary<string, object?>
        {
            ["model"] = name, ["seed"] = seed, ["design"] = m.Design, ["slack R²"] = R(m.SlackR2), ["arrival R²"] = R(m.ArrivalR2),
            ["ln-slew R²"] = R(m.SlewR2), ["ln net delay R²"] = R(m.NetDelayR2), ["cell delay R²"] = R(m.CellDelayR2), ["endpoints"] = m.Endpoints,
        });
    report.AddRow("runs", new Dictionary<string, object?> { ["model"] = name, ["seed"] = seed, ["train s"] = Math.Round(seconds), ["parameters"] = parameters,
        ["mean slack R²"] = R(mean.SlackR2), ["mean arrival R²"] = R(mean.ArrivalR2) });
    (perModel.TryGetValue(name, out var l) ? l : perModel[name] = new()).Add(mean);
    Console.WriteLine($"{name} seed {seed}: slack R² {mean.SlackR2:F3}, arrival R² {mean.ArrivalR2:F3} ({seconds:F0} s)");
}

// Arrival error (ns, four corners pooled) per band of levels: one-step predictions from the true predecessor states vs the
// sequential pass from the primary inputs, beside the spread of the true arrivals in the band.
void AddLevelErrors(string name, PreRoutGnnNetwork network, IReadOnlyList<TimingGraph> graphs)
{
    network.eval();
    foreach (var graph in graphs)
    {
        using var g = TimingGraphTensors.From(graph, designUnits: network.Architecture.DesignUnits);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        float[] F(torch.Tensor t) => t.cpu().data<float>().ToArray();
        var oneStep = F(network.TeacherForced(g).State); var sequential = F(network.Propagate(g).State);
        var truth = F(g.State); var mask = F(g.StateMask); var netSink = F(g.IsNetSink);
        int maxLevel = graph.Levels.Max(), bands = Math.Min(8, maxLevel);
        for (int band = 0; band < bands; band++)
        {
            int from = 1 + band * maxLevel / bands, to = (band + 1) * maxLevel / bands; // level 0 holds the given sources
            var t = new List<double>(); var e1 = new List<double>(); var es = new List<double>();
            var e1Net = new List<double>(); var e1Cell = new List<double>(); // one-step errors at net sinks / cell outputs
            for (int i = 0; i < graph.NodeCount; i++)
            {
                if (graph.Levels[i] < from || graph.Levels[i] > to) continue;
                for (int c = 0; c < 4; c++)
                {
                    int k = i * 8 + c;
                    if (mask[k] <= 0) continue;
                    t.Add(truth[k] * g.TimeScale); e1.Add((oneStep[k] - truth[k]) * g.TimeScale); es.Add((sequential[k] - truth[k]) * g.TimeScale);
                    (netSink[i] > 0 ? e1Net : e1Cell).Add(e1[^1]);
                }
            }
            if (t.Count == 0) continue;
            double mean = t.Average(), spread = Math.Sqrt(t.Sum(v => (v - mean) * (v - mean)) / t.Count);
            double Rms(List<double> e) => e.Count == 0 ? double.NaN : Math.Sqrt(e.Sum(v => v * v) / e.Count);
            report.AddRow("arrival error by level (first seed)", new Dictionary<string, object?>
            {
                ["model"] = name, ["design"] = $"{graph.Technology}/{graph.Design}", ["levels"] = $"{from}–{to}", ["labels"] = t.Count,
                ["true arrival mean ns"] = Math.Round(mean, 4), ["true arrival std ns"] = Math.Round(spread, 4),
                ["one-step RMSE ns"] = Math.Round(Rms(e1), 4), ["one-step RMSE at net sinks ns"] = Math.Round(Rms(e1Net), 4),
                ["one-step RMSE at cell outputs ns"] = Math.Round(Rms(e1Cell), 4), ["sequential RMSE ns"] = Math.Round(Rms(es), 4),
                ["sequential mean error ns"] = Math.Round(es.Average(), 4),
            });
        }
        // The cell outputs with the largest one-step late-arrival error (worst late corner), to see which reads go wrong.
        var fanIn = new int[graph.NodeCount]; foreach (var t in graph.CellTarget) fanIn[t]++;
        var fanOut = new int[graph.NodeCount]; foreach (var s in graph.NetSource) fanOut[s]++;
        var worst = Enumerable.Range(0, graph.NodeCount).Where(i => netSink[i] == 0 && fanIn[i] > 0)
            .Select(i => (Pin: i, Corner: mask[i * 8 + 2] > 0 && (mask[i * 8 + 3] <= 0 || Math.Abs(oneStep[i * 8 + 2] - truth[i * 8 + 2]) >= Math.Abs(oneStep[i * 8 + 3] - truth[i * 8 + 3])) ? 2 : 3))
            .Where(x => mask[x.Pin * 8 + x.Corner] > 0)
            .OrderByDescending(x => Math.Abs(oneStep[x.Pin * 8 + x.Corner] - truth[x.Pin * 8 + x.Corner])).Take(10);
        foreach (var (pin, c) in worst)
            report.AddRow("largest one-step errors at cell outputs (first seed)", new Dictionary<string, object?>
            {
                ["model"] = name, ["design"] = $"{graph.Technology}/{graph.Design}", ["pin"] = graph.PinNames[pin], ["level"] = graph.Levels[pin],
                ["arcs in"] = fanIn[pin], ["fanout"] = fanOut[pin], ["corner"] = c == 2 ? "late rise" : "late fall",
                ["true arrival ns"] = Math.Round(truth[pin * 8 + c] * g.TimeScale, 4), ["one-step ns"] = Math.Round(oneStep[pin * 8 + c] * g.TimeScale, 4),
                ["true ln-slew"] = Math.Round(truth[pin * 8 + 4 + c], 3), ["one-step ln-slew"] = Math.Round(oneStep[pin * 8 + 4 + c], 3),
            });
    }
}

static double R(double v) => double.IsFinite(v) ? Math.Round(v, 3) : double.NaN;

static TimingMetrics Metrics(TimingGraph g, float[] arrival)
{
    double Corner(int c)
    {
        var t = new List<double>(); var p = new List<double>();
        for (int i = 0; i < g.NodeCount; i++) if (g.Levels[i] > 0 && float.IsFinite(g.ArrivalTime[i * 4 + c])) { t.Add(g.ArrivalTime[i * 4 + c]); p.Add(arrival[i * 4 + c]); }
        return TimingMetrics.R2(t, p);
    }
    var ts = TimingMetrics.EndpointSlack(g, g.ArrivalTime); var ps = TimingMetrics.EndpointSlack(g, arrival);
    var ep = Enumerable.Range(0, g.NodeCount).Where(i => double.IsFinite(ts[i]) && double.IsFinite(ps[i])).ToList();
    return new TimingMetrics($"{g.Technology}/{g.Design}", Enumerable.Range(0, 4).Select(Corner).Average(), double.NaN, double.NaN, double.NaN,
        TimingMetrics.R2(ep.Select(i => ts[i]).ToList(), ep.Select(i => ps[i]).ToList()), ep.Count);
}

static int Memory(string[] a)
{
    var file = Path.Combine(a[1], a[2] + ".tgraph");
    var g = TimingGraphFile.Load(file);
    var held = a[7].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(d => TimingGraphFile.Load(Path.Combine(a[1], d + ".tgraph"))).ToList();
    int nodes = int.Parse(a[3]), epochs = int.Parse(a[4]), seed = int.Parse(a[6]);
    var arch = ArchitectureTable().Single(m => m.Key == a[5]).Arch;
    var pieces = OrderPreservingPartition.Split(g, nodes, 4).Count;
    var sw = Stopwatch.StartNew();
    var options = BenchOptions(arch, seed, epochs, a.Length > 8 ? int.Parse(a[8]) : 5);
    options.PartitionNodes = nodes; options.PinsPerEpoch = 0; options.StepPerPiece = a.Length <= 9 || bool.Parse(a[9]);
    var ml = new MLContext(seed: 0);
    using var model = ml.Regression.Trainers.PreRoutGnn(options).Fit(TimingGraphDataView.Designs(ml, new[] { file }));
    double perEpoch = sw.Elapsed.TotalSeconds / epochs;
    var (_, mean) = model.Evaluate(new[] { g });
    var (_, heldMean) = model.Evaluate(held);
    Console.WriteLine(FormattableString.Invariant($"RESULT {pieces} {Process.GetCurrentProcess().PeakWorkingSet64} {perEpoch} {mean.ArrivalR2} {mean.SlackR2} {heldMean.ArrivalR2} {heldMean.SlackR2}"));
    return 0;
}

// The training settings every learned run of the benchmark shares (main runs and the partition comparison).
// The recommended preset's training (learning rate 5e-4, clip 10, selection by validation slack every 10 epochs) with
// the architecture, budget and seed of the run.
static PreRoutGnnOptions BenchOptions(PreRoutGnnArchitecture arch, int seed, int epochs, int pretrainEpochs)
{
    var options = PreRoutGnnOptions.Recommended;
    options.Architecture = arch; options.Epochs = epochs; options.PretrainEpochs = arch.Pretraining ? pretrainEpochs : 0; options.Seed = 3407 + seed;
    return options;
}

// The models the benchmark can train, by command-line key.
static (string Key, string Name, PreRoutGnnArchitecture Arch)[] ArchitectureTable()
{
    var paper = PreRoutGnnArchitecture.Paper;
    var units = paper with { DesignUnits = true };
    var lookup = units with { CellStep = CellStepKind.TableCorrection };
    var wire = lookup with { TableLoad = TableLoad.PinAndWireCapacitance };
    var cellSta = wire with { CellStep = CellStepKind.TableArrival };
    var recommended = PreRoutGnnArchitecture.Recommended;
    var tables = PreRoutGnnInitialization.Tables;
    return new (string Key, string Name, PreRoutGnnArchitecture Arch)[]
    {
        ("preroutgnn", "PreRoutGNN", paper),
        ("timinggcn", "TimingGCN-style", paper with { Pretraining = false, Residual = false, Readout = LutReadout.QueryMask }),
        ("nopretrain", "PreRoutGNN − pre-training", paper with { Pretraining = false }),
        ("noresidual", "PreRoutGNN − residual", paper with { Residual = false }),
        ("noattention", "PreRoutGNN − LUT attention", paper with { Readout = LutReadout.QueryMask }),
        ("cellresidual", "PreRoutGNN + cell residual (ours)", paper with { CellStep = CellStepKind.LatestInputResidual }),
        ("units", "PreRoutGNN + design units (ours)", units),
        ("units-cellresidual", "PreRoutGNN + design units + cell residual (ours)", units with { CellStep = CellStepKind.LatestInputResidual }),
        ("units-cellresidual-nopretrain", "PreRoutGNN − pre-training + design units + cell residual (ours)", units with { CellStep = CellStepKind.LatestInputResidual, Pretraining = false }),
        ("lookup", "PreRoutGNN + NLDM lookup (ours)", paper with { CellStep = CellStepKind.TableCorrection }),
        ("units-lookup", "PreRoutGNN + design units + NLDM lookup (ours)", lookup),
        ("units-lookup-wire", "PreRoutGNN + design units + NLDM lookup + wire load (ours)", wire),
        ("units-lookup-wire-tables", "PreRoutGNN + design units + NLDM lookup + wire load, started from the tables (ours)", wire with { Initialization = tables }),
        ("units-lookup-wire-cellsta", "PreRoutGNN + design units + NLDM lookup + wire load + cell arrivals from the tables (ours)", cellSta),
        ("units-lookup-wire-cellsta-tables", "PreRoutGNN + design units + NLDM lookup + wire load + cell arrivals from the tables, started from the tables (ours)", recommended),
        ("units-lookup-wire-cellsta-tables-nopretrain", "PreRoutGNN recommended (ours) − pre-training", recommended with { Pretraining = false }),
        ("units-lookup-wire-cellsta-tables-noresidual", "PreRoutGNN recommended (ours) − residual", recommended with { Residual = false }),
        ("units-lookup-wire-cellsta-tables-noattention", "PreRoutGNN recommended (ours) − LUT attention (query mask)", recommended with { Readout = LutReadout.QueryMask }),
        ("units-lookup-wire-cellsta-nopretrain", "PreRoutGNN − pre-training + design units + NLDM lookup + wire load + cell arrivals from the tables (ours)", cellSta with { Pretraining = false }),
        ("units-lookup-wire-cellsta-noresidual", "PreRoutGNN − residual + design units + NLDM lookup + wire load + cell arrivals from the tables (ours)", cellSta with { Residual = false }),
        ("units-lookup-wire-cellsta-noattention", "PreRoutGNN − LUT attention (query mask) + design units + NLDM lookup + wire load + cell arrivals from the tables (ours)", cellSta with { Readout = LutReadout.QueryMask }),
        ("units-lookup-nopretrain", "PreRoutGNN − pre-training + design units + NLDM lookup (ours)", lookup with { Pretraining = false }),
    };
}

sealed class CornerLabel { public float Label { get; set; } }
sealed class ScoreRow { public float Score { get; set; } }
