// Scoring speed on Fashion-MNIST, in one run: TorchSharp (PredictionEngine and batch Transform) vs ONNX Runtime (one
// row and batches of the same model's ONNX export) vs ML.NET's LightGbm built-in, for Terminator 2-D and the MLP.
// Accuracy is not measured here (see the Terminator benchmark); models train briefly so the weights are realistic.
// Usage: dotnet run -c Release --project bench/ScoringBench -- [rows=2000] [singleRows=300] [repeats=3] [reportName=scoring] [batchThreads=0]
//   batchThreads: TorchSharp threads for batch Transform (0 = the default, the core count)
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetExt;
using MLNetExt.Bench;
using TorchSharp;

int rows = args.Length > 0 ? int.Parse(args[0]) : 2000;
int singleRows = args.Length > 1 ? int.Parse(args[1]) : 300;
int repeats = args.Length > 2 ? int.Parse(args[2]) : 3;
string reportName = args.Length > 3 ? args[3] : "scoring";
int batchThreads = args.Length > 4 ? int.Parse(args[4]) : 0;   // 0 = the default (core count)
if (!FashionMnist.IsInstalled()) { Console.Error.WriteLine($"Fashion-MNIST not found in {FashionMnist.DebianDirectory}: run scripts/setup.sh."); return 1; }
var report = new BenchReport(reportName, $"dotnet run -c Release --project bench/ScoringBench -- {string.Join(' ', args)}");
var ml = new MLContext(seed: 0);
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 2000));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, rows));
var testRows = ml.Data.CreateEnumerable<ImageRow>(test, reuseRowObject: false).ToList();
Console.WriteLine($"{rows} test rows, {singleRows} single-row predictions, {repeats} repeats, {Environment.ProcessorCount} cores");

var models = new List<(string Name, ITransformer Model)>
{
    ("Terminator 2-D", ml.MulticlassClassification.Trainers.Terminator(new TerminatorOptions { Epochs = 1, PatchSize = 2, Seed = 0 }).Fit(train)),
    ("MLP 784-256-128-10", ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 256, 128 }, Epochs = 2, Seed = 0 }).Fit(train)),
    ("LightGbm (ML.NET)", ml.MulticlassClassification.Trainers.LightGbm(new Microsoft.ML.Trainers.LightGbm.LightGbmMulticlassTrainer.Options { NumberOfIterations = 100, Seed = 0 }).Fit(train)),
};

var summary = new List<(string Name, double Value)>();
// The floor of any batch Transform: an ML.NET cursor reading the 784-float Features column of the same cached view,
// with no model. A batch path cannot be faster per row than this.
var floor = Measure.Milliseconds(() =>
{
    using var cursor = test.GetRowCursor(new[] { test.Schema["Features"] });
    var getter = cursor.GetGetter<VBuffer<float>>(test.Schema["Features"]);
    VBuffer<float> features = default;
    while (cursor.MoveNext()) getter(ref features);
}, repeats);
double floorRowsPerSecond = rows / (Measure.Median(floor) / 1000);
report.AddRow("reading the features alone (no model)", new Dictionary<string, object?> { ["cursor over Features rows/s"] = floorRowsPerSecond });
Console.WriteLine($"cursor over Features alone: {floorRowsPerSecond:F0} rows/s");
foreach (var (name, model) in models)
{
    if (batchThreads > 0 && model is TorchModelTransformer t) t.BatchScoringThreads = batchThreads;
    // PredictionEngine: one row at a time, as a web request would score.
    var engine = ml.Model.CreatePredictionEngine<ImageRow, ScoreRow>(model);
    var single = Measure.Milliseconds(() => { for (int i = 0; i < singleRows; i++) engine.Predict(testRows[i]); }, repeats);
    double engineRowsPerSecond = singleRows / (Measure.Median(single) / 1000);
    // Batch Transform: every row through a cursor reading the Score column.
    var batch = Measure.Milliseconds(() =>
    {
        using var cursor = model.Transform(test).GetRowCursor(new[] { model.GetOutputSchema(test.Schema)["Score"] });
        var getter = cursor.GetGetter<VBuffer<float>>(cursor.Schema["Score"]);
        VBuffer<float> score = default;
        while (cursor.MoveNext()) getter(ref score);
    }, repeats);
    double transformRowsPerSecond = rows / (Measure.Median(batch) / 1000);
    var row = new Dictionary<string, object?>
    {
        ["model"] = name, ["engine"] = model is TorchModelTransformer ? "TorchSharp" : "ML.NET",
        ["PredictionEngine rows/s"] = engineRowsPerSecond, ["batch Transform rows/s"] = transformRowsPerSecond,
        ["batch / single per-row speed-up"] = transformRowsPerSecond / engineRowsPerSecond,
    };
    summary.Add(($"{name}\nPredictionEngine", engineRowsPerSecond));
    summary.Add(($"{name}\nTransform", transformRowsPerSecond));
    report.AddRow("rows per second (median of repeats)", row);
    Console.WriteLine(string.Join(", ", row.Select(kv => $"{kv.Key} {BenchReport.Format(kv.Value)}")));

    if (model is TorchModelTransformer torch)
    {
        var path = Path.Combine(Path.GetTempPath(), $"scoring-{Guid.NewGuid():N}.onnx");
        torch.SaveAsOnnx(path);
        using var session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1 });
        using var batchSession = new InferenceSession(path);
        var features = testRows.SelectMany(r => r.Features).ToArray();
        var one = Measure.Milliseconds(() =>
        {
            for (int i = 0; i < singleRows; i++)
            {
                var input = new DenseTensor<float>(features.AsMemory(i * 784, 784), new[] { 1, 784 });
                using var result = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", input) });
            }
        }, repeats);
        var many = Measure.Milliseconds(() =>
        {
            for (int start = 0; start < rows; start += 256)
            {
                int n = Math.Min(256, rows - start);
                var input = new DenseTensor<float>(features.AsMemory(start * 784, n * 784), new[] { n, 784 });
                using var result = batchSession.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", input) });
            }
        }, repeats);
        double ortSingle = singleRows / (Measure.Median(one) / 1000), ortBatch = rows / (Measure.Median(many) / 1000);
        var ortRow = new Dictionary<string, object?>
        {
            ["model"] = name, ["engine"] = "ONNX Runtime", ["PredictionEngine rows/s"] = ortSingle, ["batch Transform rows/s"] = ortBatch,
            ["batch / single per-row speed-up"] = ortBatch / ortSingle,
        };
        report.AddRow("rows per second (median of repeats)", ortRow);
        summary.Add(($"{name}\nORT 1 row", ortSingle));
        summary.Add(($"{name}\nORT batch", ortBatch));
        report.AddRow("TorchSharp vs ONNX Runtime", new Dictionary<string, object?>
        {
            ["model"] = name, ["ORT / TorchSharp, one row"] = ortSingle / engineRowsPerSecond, ["ORT / TorchSharp, batch"] = ortBatch / transformRowsPerSecond,
        });
        Console.WriteLine($"  ONNX Runtime: one row {ortSingle:F0} rows/s, batch {ortBatch:F0} rows/s");
        File.Delete(path);
    }
}
var dir = BenchReport.DefaultDirectory();
Plots.Bars(Path.Combine(dir, reportName + ".png"), "Scoring speed, Fashion-MNIST (rows/s, higher is better)", "rows per second", summary, width: 1400);
report.AddPlot(reportName + ".png");
report.AddNote("PredictionEngine = ML.NET's CreatePredictionEngine, one Predict call per row; ONNX Runtime one row = InferenceSession.Run on a [1, 784] tensor with one intra-op thread.");
report.AddNote("Batch Transform = model.Transform(test) read through a cursor (TorchSharp forward passes of ScoringBatchSize = 256 rows); ONNX Runtime batch = Run on [256, 784] tensors with its default threads.");
report.AddNote($"TorchSharp scoring threads: 1 for single rows (SingleRowScoringThreads, the default), {(batchThreads > 0 ? batchThreads : Environment.ProcessorCount)} for batches (BatchScoringThreads{(batchThreads > 0 ? "" : ", the default")}).");
report.AddNote("Terminator 2-D with PatchSize 2 (default widths), 1 epoch on 2,000 rows; MLP 2 epochs; LightGbm 100 iterations. Weights do not change the speed.");
var (json, md) = report.Write();
Console.WriteLine($"wrote {json} and {md}");
return 0;

sealed class ImageRow
{
    [VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
    [KeyType(10)] public uint Label { get; set; }
}

sealed class ScoreRow
{
    public float[] Score { get; set; } = Array.Empty<float>();
}
