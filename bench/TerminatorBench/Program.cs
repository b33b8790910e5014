// Terminator benchmark on Fashion-MNIST: Terminator 2-D and 1-D (sequential) vs ML.NET LightGbm and SdcaMaximumEntropy
// on the same split, ablations (feedback loss off, plain kernels), ONNX Runtime vs TorchSharp latency.
// Usage: dotnet run -c Release --project bench/TerminatorBench -- [trainRows=60000] [epochs=4] [seeds=1] [models=all]
//          [testRows=10000] [configuration=default] [patch=1] [learningRate=3e-3] [channels=12,24,32] [sequencePatch=1]
//          [sequenceKernels=3,9,5,7] [firstSeed=0]
//   models: comma list of terminator2d,terminator1d,nofeedback,plainkernels,lightgbm,sdca,latency (default all)
//   patch: Terminator 2-D space-to-depth patch size (1 = full resolution); channels: block widths;
//   sequencePatch: consecutive pixels per step of the 1-D model (1 = one pixel per step, the plain pixel sequence);
//   sequenceKernels: the 1-D model's four local kernel sizes, in steps (e.g. 3,15,7,29 reaches one and two image rows at 4 pixels per step).
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetExt;
using MLNetExt.Bench;
using TorchSharp;

int trainRows = args.Length > 0 ? int.Parse(args[0]) : 60000;
int epochs = args.Length > 1 ? int.Parse(args[1]) : 4;
int seeds = args.Length > 2 ? int.Parse(args[2]) : 1;
var models = (args.Length > 3 ? args[3] : "terminator2d,terminator1d,nofeedback,plainkernels,lightgbm,sdca,latency").Split(',').ToHashSet();
int testRows = args.Length > 4 ? int.Parse(args[4]) : 10000;
// The section of docs/benchmarks/terminator.md this run fills (a later run of the same configuration replaces it).
string configuration = args.Length > 5 ? args[5] : "default";
int patch = args.Length > 6 ? int.Parse(args[6]) : 1;
double? learningRate = args.Length > 7 ? double.Parse(args[7], System.Globalization.CultureInfo.InvariantCulture) : null;
int[]? channels = args.Length > 8 ? args[8].Split(',').Select(int.Parse).ToArray() : null;
int sequencePatch = args.Length > 9 ? int.Parse(args[9]) : 1;
int[]? sequenceKernels = args.Length > 10 && args[10].Length > 0 ? args[10].Split(',').Select(int.Parse).ToArray() : null;
int firstSeed = args.Length > 11 ? int.Parse(args[11]) : 0; // runs seeds firstSeed .. firstSeed + seeds − 1 (more seeds in a later command)
var report = new BenchReport("terminator", $"dotnet run -c Release --project bench/TerminatorBench -- {string.Join(' ', args)}", configuration);
var ml = new MLContext(seed: 0);
if (!FashionMnist.IsInstalled()) { Console.Error.WriteLine($"Fashion-MNIST not found in {FashionMnist.DebianDirectory}: run scripts/setup.sh."); return 1; }
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, trainRows));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, testRows));
Console.WriteLine($"train {trainRows} rows, test {testRows} rows, {epochs} epochs, {seeds} seed(s), torch threads {torch.get_num_threads()}");

var results = new Dictionary<string, List<double>>();
TerminatorTransformer? firstModel = null;
void Run(string name, Func<int, IEstimator<ITransformer>> trainer, Func<ITransformer, long>? parameters = null)
{
    for (int seed = firstSeed; seed < firstSeed + seeds; seed++)
    {
        var sw = Stopwatch.StartNew();
        ITransformer model;
        try
        {
            model = trainer(seed).Fit(train);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("diverged"))
        {
            // A configuration that does not train is a result too: record it instead of losing the whole run.
            report.AddRow("per run", new Dictionary<string, object?> { ["model"] = name, ["seed"] = seed, ["test accuracy"] = "diverged", ["train s"] = sw.Elapsed.TotalSeconds });
            report.AddNote($"{name}, seed {seed}: {e.Message}");
            Console.WriteLine($"{name} seed {seed}: {e.Message}");
            continue;
        }
        double seconds = sw.Elapsed.TotalSeconds;
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        if (!results.TryGetValue(name, out var list)) results[name] = list = new();
        list.Add(metrics.MacroAccuracy);
        if (model is TerminatorTransformer t && firstModel is null && name == "Terminator 2-D") firstModel = t;
        report.AddRow("per run", new Dictionary<string, object?>
        {
            ["model"] = name, ["seed"] = seed, ["test accuracy"] = metrics.MicroAccuracy, ["macro accuracy"] = metrics.MacroAccuracy,
            ["log-loss"] = metrics.LogLoss, ["parameters"] = parameters?.Invoke(model), ["train s"] = seconds,
        });
        Console.WriteLine($"{name} seed {seed}: accuracy {metrics.MicroAccuracy:P2}, train {seconds:F0} s");
    }
}

var defaults = new TerminatorOptions();
// Every model gets the command's patch size, channels and learning rate; the 1-D model reads sequencePatch pixels per step.
TerminatorOptions Options(int seed, Action<TerminatorOptions>? change = null)
{
    var o = new TerminatorOptions
    {
        Epochs = epochs, Seed = seed, PatchSize = patch,
        BlockChannels = channels ?? defaults.BlockChannels,
        LearningRate = learningRate ?? defaults.LearningRate,
        Progress = new Progress<TrainingProgress>(p => Console.WriteLine($"  epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F4} ({p.Elapsed.TotalSeconds:F0} s)")),
    };
    change?.Invoke(o);
    return o;
}
long Params(ITransformer t) => ((TerminatorTransformer)t).Network.parameters().Sum(p => p.numel());

if (models.Contains("terminator2d")) Run("Terminator 2-D", s => ml.MulticlassClassification.Trainers.Terminator(Options(s)), Params);
if (models.Contains("terminator1d")) Run("Terminator 1-D sequential" + (sequencePatch > 1 ? $", {sequencePatch} pixels per step" : ""),
    s => ml.MulticlassClassification.Trainers.Terminator(Options(s, o => { o.Input = TerminatorInputKind.Sequence; o.PatchSize = sequencePatch; if (sequenceKernels is not null) o.LocalKernelSizes = sequenceKernels; })), Params);
if (models.Contains("nofeedback")) Run("Terminator 2-D, feedback loss off", s => ml.MulticlassClassification.Trainers.Terminator(Options(s, o => o.FeedbackLossWeight = 0)), Params);
if (models.Contains("plainkernels")) Run("Terminator 2-D, plain learned kernels", s => ml.MulticlassClassification.Trainers.Terminator(Options(s, o => o.HyperKernels = false)), Params);
if (models.Contains("lightgbm")) Run("ML.NET LightGbm (raw pixels)", s => ml.MulticlassClassification.Trainers.LightGbm(new Microsoft.ML.Trainers.LightGbm.LightGbmMulticlassTrainer.Options { Seed = s, NumberOfIterations = 200 }));
if (models.Contains("sdca")) Run("ML.NET SdcaMaximumEntropy (raw pixels)", s => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy());

foreach (var (name, list) in results)
    report.AddRow("summary (median over seeds)", new Dictionary<string, object?> { ["model"] = name, ["test macro accuracy"] = Measure.Median(list), ["runs"] = list.Count });
if (results.Count > 0)
{
    Plots.Bars(Path.Combine(BenchReport.DefaultDirectory(), report.PlotFileName("accuracy")), "Fashion-MNIST test accuracy", "macro accuracy",
        results.Select(r => (r.Key, Measure.Median(r.Value))).ToList());
    report.AddPlot(report.PlotFileName("accuracy"));
}

if (models.Contains("latency"))
{
    var model = firstModel ?? ml.MulticlassClassification.Trainers.Terminator(Options(0, o => o.Epochs = 1)).Fit(ml.Data.TakeRows(train, 512));
    var onnxPath = Path.Combine(Path.GetTempPath(), "terminator-bench.onnx");
    model.SaveAsOnnx(onnxPath);
    using var session = OnnxSessionFactory.Create(onnxPath);
    var features = ml.Data.CreateEnumerable<FashionMnistRow>(test, false).Take(64).SelectMany(r => r.Features).ToArray();
    foreach (int batch in new[] { 1, 64 })
    {
        var input = features.AsSpan(0, batch * 784).ToArray();
        var torchMs = Measure.Milliseconds(() => model.Score(input, batch), repeats: batch == 1 ? 30 : 10);
        var onnxMs = Measure.Milliseconds(() => OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (input, new[] { batch, 784 }) }, "Score"), repeats: batch == 1 ? 30 : 10);
        report.AddRow("inference latency (median ms)", new Dictionary<string, object?>
        {
            ["batch"] = batch, ["TorchSharp ms"] = Measure.Median(torchMs), ["ONNX Runtime ms"] = Measure.Median(onnxMs),
            ["speed-up"] = Measure.Median(torchMs) / Measure.Median(onnxMs),
        });
    }
}
report.AddNote("Fashion-MNIST from Debian's dataset-fashion-mnist (60,000 train / 10,000 test, the standard split); pixels scaled to [0, 1].");
report.AddNote(patch == 1
    ? "Terminator 2-D runs at full 28×28 resolution with no pooling; inference uses instance statistics and running batch statistics (batch-independent)."
    : $"Terminator 2-D uses PatchSize = {patch}: a lossless space-to-depth stem ({patch}×{patch} pixels → {patch * patch} channels), blocks at {28 / patch}×{28 / patch}, no pooling after it (our CPU-budget option). Inference uses instance statistics and running batch statistics (batch-independent).");
if (models.Contains("terminator1d"))
    report.AddNote(sequencePatch == 1
        ? "Terminator 1-D reads the 784 pixels row by row, one pixel per step (a 784-step sequence)."
        : $"Terminator 1-D reads the pixels row by row, {sequencePatch} consecutive pixels per step as {sequencePatch} channels ({784 / sequencePatch} steps; our PatchSize option for sequences), local kernel sizes {string.Join(", ", sequenceKernels ?? defaults.LocalKernelSizes)} steps.");
report.AddNote($"Block channels {string.Join(", ", channels ?? defaults.BlockChannels)}, learning rate {learningRate ?? defaults.LearningRate}, AdamW, warm-up + cosine, batch 64, label smoothing 0.1.");
var (json, md) = report.Write();
Console.WriteLine($"wrote {json} and {md}");
return 0;

sealed class FashionMnistRow
{
    [Microsoft.ML.Data.VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
}
