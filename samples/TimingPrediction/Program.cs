// Pre-routing timing prediction with PreRoutGNN: build labelled timing graphs from placed designs (netlist + DEF +
// Liberty, labels from OpenSTA on the routed parasitics), train on some designs, predict a design never seen in training,
// list its worst endpoints, save/reload the model and export it to ONNX.
// Usage: dotnet run -c Release --project samples/TimingPrediction -- [circuitsFolder=../shared/data/circuits] [epochs=120 (the preset)]
//   circuitsFolder holds circuitops/<technology>/<design>/6_final.{v,def,sdc,spef}[.gz], liberty/ and platforms/.
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using Spectre.Console;

string root = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "data", "circuits");
var preset = PreRoutGnnOptions.Recommended;
int epochs = args.Length > 1 ? int.Parse(args[1]) : preset.Epochs;
if (!Directory.Exists(Path.Combine(root, "circuitops")))
{
    AnsiConsole.MarkupLine($"[red]No circuit data at {Markup.Escape(root)}.[/] Pass the folder that holds circuitops/, liberty/ and platforms/.");
    return 1;
}
if (!OpenStaRunner.IsAvailable)
{
    AnsiConsole.MarkupLine("[red]OpenSTA ('sta') is not installed.[/] Run [bold]bash scripts/setup.sh[/] (Debian package opensta).");
    return 1;
}

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

// 4. Save into an ML.NET model zip, reload in a new context, export to ONNX (the propagation is an ONNX Loop over the level schedule).
var dir = Path.Combine(Path.GetTempPath(), "mlnetext-timing");
Directory.CreateDirectory(dir);
ml.Model.Save(model, train.Schema, Path.Combine(dir, "preroutgnn.zip"));
var fresh = new MLContext();
var reloaded = fresh.Model.Load(Path.Combine(dir, "preroutgnn.zip"), out _);
bool same = reloaded.Transform(test).GetColumn<float>("PredictedSlack").SequenceEqual(scored.GetColumn<float>("PredictedSlack")); // NaN equals NaN here (float.Equals)
model.SaveAsOnnx(Path.Combine(dir, "preroutgnn.onnx"));
AnsiConsole.MarkupLine($"Saved and reloaded (identical predictions: {same}); ONNX model written to {Markup.Escape(Path.Combine(dir, "preroutgnn.onnx"))}.");
return 0;

sealed class EndpointSlack
{
    public string Pin { get; set; } = "";
    public float Slack { get; set; }
    public float PredictedSlack { get; set; }
}
