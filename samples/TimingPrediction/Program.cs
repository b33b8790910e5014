// Pre-routing timing prediction with PreRoutGNN: build labelled timing graphs from placed designs (netlist + DEF +
// Liberty, labels from OpenSTA on the routed parasitics), train on some designs, predict a design never seen in training,
// list its worst endpoints, save/reload the model and export it to ONNX.
// Then the consumption step (ConsumeModel.cs): one pin through the reloaded zip's PredictionEngine and the same pin
// through ONNX Runtime, checked to agree.
// Usage: dotnet run -c Release --project samples/TimingPrediction -- [circuitsFolder=../shared/data/circuits] [epochs=120 (the preset)] [--smoke]
//   circuitsFolder holds circuitops/<technology>/<design>/6_final.{v,def,sdc,spef}[.gz], liberty/ and platforms/.
//   --smoke: 3 epochs. Without the circuit data or OpenSTA the sample says so and exits with code 3 (skipped).
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using MLNetExt.Samples;
using Spectre.Console;
using TimingPrediction;

var run = SampleRun.Parse(args, "mlnetext-timing");
string root = run.Text(0, Path.Combine("..", "shared", "data", "circuits"));
var preset = PreRoutGnnOptions.Recommended;
int epochs = run.Int(1, preset.Epochs, 3);
if (!Directory.Exists(Path.Combine(root, "circuitops")))
    return SampleRun.Skip($"no circuit data at {Path.GetFullPath(root)}; pass the folder that holds circuitops/, liberty/ and platforms/.");
if (!OpenStaRunner.IsAvailable)
    return SampleRun.Skip("OpenSTA ('sta') is not installed; run bash scripts/setup.sh (Debian package opensta).");

// 1. Labelled graphs of the small designs that ship with SPEF (cached as graph files, so the second run starts at once).
var wanted = new[] { "asap7/gcd", "asap7/uart", "nangate45/gcd", "sky130hd/gcd" };
var dataset = new CircuitDataset(Path.Combine(Path.GetTempPath(), "mlnetext-circuits"));
var designs = CircuitDataset.Discover(root).Where(d => wanted.Contains(d.Id)).ToList();
var graphs = new Dictionary<string, (TimingGraph Graph, string File)>();
AnsiConsole.Progress().Start(ctx =>
{
    var task = ctx.AddTask("timing graphs (OpenSTA labels)", maxValue: designs.Count);
    foreach (var d in designs) { graphs[d.Id] = (dataset.Get(d).Graph, dataset.CachePath(d)); task.Increment(1); }
});
var table = new Table().AddColumns("design", "pins", "net edges", "cell arcs", "endpoints", "levels");
foreach (var (id, (g, _)) in graphs) table.AddRow(id, $"{g.NodeCount:N0}", $"{g.NetSource.Length:N0}", $"{g.CellSource.Length:N0}", $"{g.IsEndpoint.Count(e => e)}", $"{g.LevelCount}");
AnsiConsole.Write(table);

// 2. Pin rows naming their design's graph file; train on three designs, sky130hd/gcd is never seen in training.
var ml = new MLContext(seed: 0);
var train = TimingGraphDataView.PinsOf(ml, new[] { "asap7/gcd", "asap7/uart", "nangate45/gcd" }.Select(id => graphs[id].File));
var test = TimingGraphDataView.PinsOf(ml, new[] { graphs["sky130hd/gcd"].File });
PreRoutGnnTransformer model = null!;
AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()).Start(ctx =>
{
    var task = ctx.AddTask("PreRoutGNN training", maxValue: epochs);
    // The recommended preset (the library default): the paper's components plus design units and cell steps that read
    // the NLDM tables at the predicted slew and the pin + wire load, as STA does, and learn a correction (docs/preroutgnn.md).
    var options = preset;
    options.Epochs = epochs;
    options.Progress = new Progress<TrainingProgress>(p => { task.Value = p.Epoch; task.Description = $"PreRoutGNN training (loss {p.TrainLoss:F3})"; });
    model = ml.Regression.Trainers.PreRoutGnn(options).Fit(train);
});

// 3. Predict the unseen design by level-order propagation from its primary inputs and compare with OpenSTA.
var m = ml.Regression.Evaluate(model, test).PerDesign[0];
AnsiConsole.MarkupLine($"[bold]{m.Design}[/] (unseen): arrival R² {m.ArrivalR2:F3}, ln-slew R² {m.SlewR2:F3}, net delay R² {m.NetDelayR2:F3}, " +
                       $"cell delay R² {m.CellDelayR2:F3}, endpoint slack R² {m.SlackR2:F3} over {m.Endpoints} endpoints");
var scored = model.Transform(test);
var endpoints = ml.Data.FilterRowsByMissingValues(scored, "Slack", "PredictedSlack");
AnsiConsole.MarkupLine($"ML.NET regression metrics on endpoint slack: R² {ml.Regression.Evaluate(endpoints, "Slack", "PredictedSlack").RSquared:F3}");
var worst = new Table().AddColumns("endpoint", "predicted slack ns", "OpenSTA slack ns");
foreach (var p in ml.Data.CreateEnumerable<EndpointSlack>(endpoints, reuseRowObject: false).OrderBy(p => p.PredictedSlack).Take(8))
    worst.AddRow(Markup.Escape(p.Pin), $"{p.PredictedSlack:F3}", $"{p.Slack:F3}");
AnsiConsole.Write(worst);

run.Check(m.SlackR2 > (run.Smoke ? -10 : 0), $"endpoint slack R² {m.SlackR2:F3} on the unseen design");

// 4. Save into an ML.NET model zip, reload in a new context, export to ONNX (the propagation is an ONNX Loop over the level schedule).
var zipPath = Path.Combine(run.OutputDirectory, "preroutgnn.zip");
var onnxPath = Path.Combine(run.OutputDirectory, "preroutgnn.onnx");
ml.Model.Save(model, train.Schema, zipPath);
var reloaded = new MLContext().Model.Load(zipPath, out _);
bool same = reloaded.Transform(test).GetColumn<float>("PredictedSlack").SequenceEqual(scored.GetColumn<float>("PredictedSlack")); // NaN equals NaN here (float.Equals)
run.Check(same, "the reloaded zip predicts the same endpoint slacks");
model.SaveAsOnnx(onnxPath);
AnsiConsole.MarkupLine($"Saved [bold]{zipPath}[/] (reloaded, identical predictions: {same}) and [bold]{onnxPath}[/]");

// 5. Consume, as an app would: the worst endpoint of the unseen design through the zip and through ONNX Runtime.
var worstPin = ml.Data.CreateEnumerable<EndpointSlack>(endpoints, reuseRowObject: false).OrderBy(p => p.PredictedSlack).First().Pin;
var input = new ModelInput { GraphPath = graphs["sky130hd/gcd"].File, Pin = worstPin };
var fromZip = ZipModel.Predict<ModelInput, ModelOutput>(zipPath, input);
var fromOnnx = ConsumeModel.PredictArrivalWithOnnx(onnxPath, model.Network.Architecture, input);
AnsiConsole.MarkupLine($"Zip (PredictionEngine), pin {Markup.Escape(worstPin)}: late arrival {fromZip.PredictedArrival[2]:F4} / {fromZip.PredictedArrival[3]:F4} ns (rise/fall), slack {fromZip.PredictedSlack:F4} ns");
double gap = run.CheckClose(fromZip.PredictedArrival, fromOnnx, 1e-4, "zip vs ONNX Runtime arrival times");
AnsiConsole.MarkupLine($"ONNX Runtime,           pin {Markup.Escape(worstPin)}: late arrival {fromOnnx[2]:F4} / {fromOnnx[3]:F4} ns; max |Δ| vs zip {gap:E2}");
return run.Finish();

sealed class EndpointSlack
{
    public string Pin { get; set; } = "";
    public float Slack { get; set; }
    public float PredictedSlack { get; set; }
}
