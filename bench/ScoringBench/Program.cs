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
int batchThreads = args.Length > 4 ? int.Parse(args[4]) : 0;   // 0 = the default (the core count)
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
string load = LoadAverage();
foreach (var (name, model) in models)
{
    var torch = model as TorchModelTransformer;
    if (batchThreads > 0 && torch != null) torch.BatchScoringThreads = batchThreads;
    int defaultThreads = torch?.BatchScoringThreads ?? 0;
    // PredictionEngine: one row at a time, as a web request would score.
    var engine = ml.Model.CreatePredictionEngine<ImageRow, ScoreRow>(model);
    double Single() => Time(() => { for (int i = 0; i < singleRows; i++) engine.Predict(testRows[i]); });
    // Batch Transform: every row through a cursor reading the Score column.
    double Batch(int threads)
    {
        if (torch != null) torch.BatchScoringThreads = threads;
        return Time(() =>
        {
            using var cursor = model.Transform(test).GetRowCursor(new[] { model.GetOutputSchema(test.Schema)["Score"] });
            var getter = cursor.GetGetter<VBuffer<float>>(cursor.Schema["Score"]);
            VBuffer<float> score = default;
            while (cursor.MoveNext()) getter(ref score);
        });
    }
    string? path = null;
    InferenceSession? session = null, batchSession = null;
    var features = testRows.SelectMany(r => r.Features).ToArray();
    if (torch != null)
    {
        path = Path.Combine(Path.GetTempPath(), $"scoring-{Guid.NewGuid():N}.onnx");
        torch.SaveAsOnnx(path);
        session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1 });
        batchSession = new InferenceSession(path);
    }
    double OrtOne() => Time(() =>
    {
        for (int i = 0; i < singleRows; i++)
        {
            var input = new DenseTensor<float>(features.AsMemory(i * 784, 784), new[] { 1, 784 });
            using var result = session!.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", input) });
        }
    });
    double OrtBatch() => Time(() =>
    {
        for (int start = 0; start < rows; start += 256)
        {
            int n = Math.Min(256, rows - start);
            var input = new DenseTensor<float>(features.AsMemory(start * 784, n * 784), new[] { n, 784 });
            using var result = batchSession!.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", input) });
        }
    });

    // Every repeat measures each way of scoring once, one right after the other, so that a ratio compares figures
    // taken under the same machine load; the ratios reported are medians of these paired ratios. The first pass warms up.
    var single = new List<double>(); var batch = new List<double>(); var ortOne = new List<double>(); var ortBatch = new List<double>();
    var oneThread = new List<double>(); var allThreads = new List<double>();
    for (int repeat = 0; repeat <= repeats; repeat++)
    {
        double s = singleRows / Single(), b = rows / Batch(defaultThreads);
        double o1 = 0, ob = 0, b1 = 0, bAll = 0;
        if (torch != null)
        {
            o1 = singleRows / OrtOne();
            ob = rows / OrtBatch();
            b1 = rows / Batch(1);
            bAll = rows / Batch(Environment.ProcessorCount);
            torch.BatchScoringThreads = defaultThreads;
        }
        if (repeat == 0) continue;
        single.Add(s); batch.Add(b); ortOne.Add(o1); ortBatch.Add(ob); oneThread.Add(b1); allThreads.Add(bAll);
    }
    var speedUps = batch.Zip(single, (b, s) => b / s).ToList();
    var row = new Dictionary<string, object?>
    {
        ["model"] = name, ["engine"] = torch != null ? "TorchSharp" : "ML.NET",
        ["PredictionEngine rows/s"] = Measure.Median(single), ["batch Transform rows/s"] = Measure.Median(batch),
        ["batch / single per-row speed-up"] = Measure.Median(speedUps),
        ["speed-up per repeat"] = string.Join(" / ", speedUps.Select(r => BenchReport.Format(r))),
    };
    summary.Add(($"{name}\nPredictionEngine", Measure.Median(single)));
    summary.Add(($"{name}\nTransform", Measure.Median(batch)));
    report.AddRow("rows per second (median of repeats)", row);
    Console.WriteLine(string.Join(", ", row.Select(kv => $"{kv.Key} {BenchReport.Format(kv.Value)}")));
    if (torch == null) continue;

    var ortSpeedUps = ortBatch.Zip(ortOne, (b, s) => b / s).ToList();
    report.AddRow("rows per second (median of repeats)", new Dictionary<string, object?>
    {
        ["model"] = name, ["engine"] = "ONNX Runtime", ["PredictionEngine rows/s"] = Measure.Median(ortOne), ["batch Transform rows/s"] = Measure.Median(ortBatch),
        ["batch / single per-row speed-up"] = Measure.Median(ortSpeedUps),
        ["speed-up per repeat"] = string.Join(" / ", ortSpeedUps.Select(r => BenchReport.Format(r))),
    });
    summary.Add(($"{name}\nORT 1 row", Measure.Median(ortOne)));
    summary.Add(($"{name}\nORT batch", Measure.Median(ortBatch)));
    var ortOverTorchOne = ortOne.Zip(single, (o, t) => o / t).ToList();
    report.AddRow("TorchSharp vs ONNX Runtime (medians of paired ratios)", new Dictionary<string, object?>
    {
        ["model"] = name, ["ORT / TorchSharp, one row"] = Measure.Median(ortOverTorchOne),
        ["ORT / TorchSharp, batch"] = Measure.Median(ortBatch.Zip(batch, (o, t) => o / t)),
        ["one row, per repeat"] = string.Join(" / ", ortOverTorchOne.Select(r => BenchReport.Format(r))),
    });
    report.AddRow("TorchSharp batch Transform by intra-op threads (rows/s, median of repeats)", new Dictionary<string, object?>
    {
        ["model"] = name, ["1 thread"] = Measure.Median(oneThread), [$"{Environment.ProcessorCount} threads (core count)"] = Measure.Median(allThreads),
        [$"core count / 1 thread"] = Measure.Median(allThreads.Zip(oneThread, (a, o) => a / o)),
    });
    Console.WriteLine($"  ONNX Runtime: one row {Measure.Median(ortOne):F0} rows/s, batch {Measure.Median(ortBatch):F0} rows/s; " +
        $"TorchSharp batch at 1 thread {Measure.Median(oneThread):F0}, at {Environment.ProcessorCount} {Measure.Median(allThreads):F0} rows/s");
    session!.Dispose();
    batchSession!.Dispose();
    File.Delete(path!);
}
load += " → " + LoadAverage();
var dir = BenchReport.DefaultDirectory();
Plots.Bars(Path.Combine(dir, reportName + ".png"), "Scoring speed, Fashion-MNIST (rows/s, higher is better)", "rows per second", summary, width: 1400);
report.AddPlot(reportName + ".png");
report.AddNote("PredictionEngine = ML.NET's CreatePredictionEngine, one Predict call per row; ONNX Runtime one row = InferenceSession.Run on a [1, 784] tensor with one intra-op thread.");
report.AddNote("Batch Transform = model.Transform(test) read through a cursor (TorchSharp forward passes of ScoringBatchSize = 256 rows); ONNX Runtime batch = Run on [256, 784] tensors with its default threads.");
report.AddNote($"TorchSharp scoring threads: 1 for single rows (SingleRowScoringThreads, the default), {(batchThreads > 0 ? batchThreads : TorchThreadsDefault(models))} for batches (BatchScoringThreads{(batchThreads > 0 ? "" : ", the default: the core count")}); the threads table scores the same batches at 1 thread and at the core count.");
report.AddNote($"Each repeat runs every measurement of a model once, back to back (PredictionEngine, batch Transform, ONNX Runtime one row and batch, batch Transform at 1 thread and at the core count), after one warm-up pass; speed-ups and ratios are medians of the per-repeat ratios. Load average (1 min) at start → end: {load} on {Environment.ProcessorCount} cores{(LoadIsHigh(load) ? ": the machine was shared with other busy jobs, so absolute rows/s are lower and noisier than on a quiet machine; the paired ratios are the figures to compare" : "")}.");
report.AddNote("Terminator 2-D with PatchSize 2 (default widths), 1 epoch on 2,000 rows; MLP 2 epochs; LightGbm 100 iterations. Weights do not change the speed.");
var (json, md) = report.Write();
Console.WriteLine($"wrote {json} and {md}");
return 0;

static double Time(Action action)
{
    var sw = Stopwatch.StartNew();
    action();
    return sw.Elapsed.TotalSeconds;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

static bool LoadIsHigh(string load) => load.Split(" → ").Any(l => double.TryParse(l, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0.5 * Environment.ProcessorCount);

static int TorchThreadsDefault(List<(string Name, ITransformer Model)> models)
    => models.Select(m => m.Model).OfType<TorchModelTransformer>().First().BatchScoringThreads;

sealed class ImageRow
{
    [VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
    [KeyType(10)] public uint Label { get; set; }
}

sealed class ScoreRow
{
    public float[] Score { get; set; } = Array.Empty<float>();
}
