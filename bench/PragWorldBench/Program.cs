// PragWorld benchmark: train a text Transformer on generated conversations (training templates), measure original vs
// altered accuracy on held-out templates, run the layer analysis, fine-tune with and without layer regularisation.
// Usage: dotnet run -c Release --project bench/PragWorldBench -- real-alterations [csv] [seed] [examples]   (see RealAlterations.cs)
//    or: dotnet run -c Release --project bench/PragWorldBench -- [trainConversations=2000] [epochs=12] [seeds=3 | first-last]
//   [learningRate=2e-3] [full|base-only] [fineTuneEpochs=epochs/3] [fineTuneLearningRate=learningRate/5] [regulariserWeight=1e-2]
//   [alteredConversations=trainConversations/4] [originalReplay=1] [models=plain,mlp,gate]
// Base models are cached in bench/PragWorldBench/cache, keyed by the command-line settings that shape them (conversations,
// epochs, learning rate, seed), so fine-tuning settings can be revisited without retraining the base. Delete the folder
// after changing the model or data code: the key does not see code changes.
using System.Diagnostics;
using Microsoft.ML;
using MLNetExt;
using MLNetExt.Bench;

// "real-alterations [csv] [seed=7] [examples=10]": the alterations on the authors' real originals (no training).
// The authors' manual set in ../shared/data/pragworld beside the repository.
string RealCsv() => Path.GetFullPath(Path.Combine(BenchReport.DefaultDirectory(), "..", "..", "..", "shared", "data", "pragworld", "Manual_Dataset_500.csv"));
if (args.Length > 0 && args[0] == "real-alterations")
{
    RealAlterations.Run(args.Length > 1 ? Path.GetFullPath(args[1]) : RealCsv(), args.Length > 2 ? int.Parse(args[2]) : 7, args.Length > 3 ? int.Parse(args[3]) : 10,
        $"dotnet run -c Release --project bench/PragWorldBench -- {string.Join(' ', args)}");
    return;
}
// "real-models [conversations=600] [epochs=4] [seed=0]": models on the authors' real rows (see RealModels.cs).
if (args.Length > 0 && args[0] == "real-models")
{
    RealModels.Run(RealCsv(), args.Length > 1 ? int.Parse(args[1]) : 600, args.Length > 2 ? int.Parse(args[2]) : 4, args.Length > 3 ? int.Parse(args[3]) : 0,
        $"dotnet run -c Release --project bench/PragWorldBench -- {string.Join(' ', args)}");
    return;
}

int trainConversations = args.Length > 0 ? int.Parse(args[0]) : 2000;
int epochs = args.Length > 1 ? int.Parse(args[1]) : 12;
// "3" = seeds 0..2; "1-2" = seeds 1..2 (to add seeds to an earlier run without repeating it).
var seedRange = (args.Length > 2 ? args[2] : "3").Split('-').Select(int.Parse).ToArray();
int firstSeed = seedRange.Length == 2 ? seedRange[0] : 0, lastSeed = seedRange.Length == 2 ? seedRange[1] : seedRange[0] - 1;
double learningRate = args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 2e-3;
bool analysisAndFineTuning = args.Length <= 4 || args[4] != "base-only";
int fineTuneEpochs = args.Length > 5 ? int.Parse(args[5]) : Math.Max(2, epochs / 3);
double fineTuneLearningRate = args.Length > 6 ? double.Parse(args[6], System.Globalization.CultureInfo.InvariantCulture) : learningRate / 5;
double regulariserWeight = args.Length > 7 ? double.Parse(args[7], System.Globalization.CultureInfo.InvariantCulture) : 1e-2;
// How many fresh training-template conversations are altered for the fine-tuning data (their altered versions only).
int defaultAlteredConversations = trainConversations / 4;
int alteredConversations = args.Length > 8 ? int.Parse(args[8]) : defaultAlteredConversations;
// How many times the original training rows appear in the fine-tuning data (rehearsal against forgetting them).
int originalReplay = args.Length > 9 ? int.Parse(args[9]) : 1;
// Which fine-tuned models to train: plain (no regulariser), mlp (MLP-output penalty), gate (layer-gate penalty).
string[] allModels = { "plain", "mlp", "gate" };
var models = args.Length > 10 ? args[10].Split(',') : allModels;
if (models.Except(allModels).Any() || originalReplay < 1)
    throw new ArgumentException($"models must be a comma list of {string.Join(", ", allModels)} (got {string.Join(",", models)}) and originalReplay ≥ 1 (got {originalReplay}).");
var command = $"dotnet run -c Release --project bench/PragWorldBench -- {string.Join(' ', args)}";
// What sets this run apart from the default one: names its section of the report ("default" when nothing does).
var runSuffix = (alteredConversations != defaultAlteredConversations ? $"-altered{alteredConversations}" : "") +
                (originalReplay != 1 ? $"-replay{originalReplay}" : "") + (models.Length != allModels.Length ? "-" + string.Join("-", models) : "") +
                (firstSeed == 0 ? "" : $"-seeds{firstSeed}-{lastSeed}");
// The run's section of docs/benchmarks/pragworld.md (a later run of the same settings replaces it).
var configuration = runSuffix.Length == 0 ? "default" : runSuffix[1..];
var report = new BenchReport("pragworld", command, configuration);
var outDir = BenchReport.DefaultDirectory();
// Each model's own PragWorld report (Markdown, HTML, chart) is a run artefact, not a committed benchmark report.
var modelReportDir = Path.GetFullPath(Path.Combine(outDir, "..", "..", "artifacts", "pragworld", configuration));
Directory.CreateDirectory(modelReportDir);
var ml = new MLContext(seed: 0);

List<PragWorldQuestionRow> Rows(int count, int seed, IReadOnlyList<string> templates, string prefix)
    => new ConversationGenerator(new ConversationGeneratorOptions { Seed = seed, Templates = templates, IdPrefix = prefix })
        .Generate(count).SelectMany(c => c.ToQuestionRows()).ToList();

var trainTemplates = ConversationGenerator.DefaultTrainingTemplateIds;
var heldOut = ConversationGenerator.DefaultHeldOutTemplateIds;
var trainRows = Rows(trainConversations, 1, trainTemplates, "train");
var validationRows = Rows(300, 2, trainTemplates, "val");
var testRows = Rows(500, 3, heldOut.Concat(trainTemplates).ToList(), "test");
var alterations = new PragWorldAlterationOptions { Seed = 5 };
IDataView Benchmark(List<PragWorldQuestionRow> rows) => ml.PragWorld().Alterations.BuildBenchmark(ml.Data.LoadFromEnumerable(rows), alterations);
var validationBench = Benchmark(validationRows);
var testBench = Benchmark(testRows);
// Fine-tuning data: altered versions of fresh training-template conversations (never the test conversations), mixed
// with the original training rows (replay) so the fine-tuned model keeps what it knew on unaltered conversations.
var alteredRows = ml.Data.CreateEnumerable<PragWorldQuestionRow>(Benchmark(Rows(alteredConversations, 4, trainTemplates, "ft")), false)
    .Where(r => r.Alteration != PragWorldQuestionRow.OriginalAlteration).ToList();
var fineTuneRows = Enumerable.Repeat(trainRows, originalReplay).SelectMany(r => r).Concat(alteredRows).ToList();
Console.WriteLine($"train {trainRows.Count} questions, fine-tune {fineTuneRows.Count}, test benchmark {testBench.GetRowCount() ?? -1}");

TextClassifierOptions Options(int seed, int epochCount, double lr) => new()
{
    // The question goes first so it sits right after [CLS], at the same positions in every example.
    FeatureColumnName = "Question", SecondTextColumnName = "Conversation", MaxLength = 128, Layers = 4, ModelDimension = 128, Heads = 4,
    FeedForwardDimension = 256, Dropout = 0.1, Epochs = epochCount, BatchSize = 64, LearningRate = lr, Seed = seed,
    Schedule = LearningRateScheduleKind.WarmupCosine, WarmupEpochs = 1, Device = TorchDeviceKind.Auto,
    Progress = new Progress<TrainingProgress>(p => Console.WriteLine($"  epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F4} ({p.Elapsed.TotalSeconds:F0} s)")),
};

void Record(string model, int seed, PragWorldMetrics m, double? seconds)
{
    var row = new Dictionary<string, object?>
    {
        ["model"] = model, ["seed"] = seed, ["original acc"] = m.OriginalAccuracy, ["altered acc"] = m.AlteredAccuracy,
        ["lost"] = m.OriginalAccuracy - m.AlteredAccuracy, ["robust acc"] = m.RobustAccuracy, ["consistency"] = m.Consistency, ["train s"] = seconds,
    };
    foreach (var a in m.PerAlteration) row[a.Alteration] = a.Accuracy;
    report.AddRow("accuracy on held-out benchmark (per seed)", row);
    Console.WriteLine($"{model} seed {seed}: original {m.OriginalAccuracy:P1} altered {m.AlteredAccuracy:P1} robust {m.RobustAccuracy:P1}");
}

var summary = new Dictionary<string, List<PragWorldMetrics>>();
void Keep(string name, PragWorldMetrics m) { if (!summary.TryGetValue(name, out var l)) summary[name] = l = new(); l.Add(m); }

for (int seed = firstSeed; seed <= lastSeed; seed++)
{
    var sw = Stopwatch.StartNew();
    var (baseModel, cached) = CachedBaseModel(seed);
    var baseMetrics = ml.PragWorld().Evaluate(baseModel, testBench);
    Record("base", seed, baseMetrics, cached ? null : sw.Elapsed.TotalSeconds); // a cached base has no train time to show
    Keep("base", baseMetrics);
    if (!analysisAndFineTuning) continue;

    // Layer analysis on the validation benchmark (training templates), never on the test set.
    var ablation = ml.PragWorld().MlpAblation(baseModel, validationBench);
    var harmful = ml.PragWorld().HarmfulLayers(ablation);
    if (seed == 0)
    {
        var valRows = ml.Data.CreateEnumerable<PragWorldQuestionRow>(validationBench, false).ToList();
        var patching = ml.PragWorld().Patching(baseModel, valRows);
        HeatMap(ablation, Path.Combine(outDir, report.PlotFileName("mlp-ablation")), "Accuracy change when a layer's MLP is zeroed");
        HeatMap(patching, Path.Combine(outDir, report.PlotFileName("patching")), "Δ p(altered gold) when a layer's input is patched from the altered run");
        report.AddPlot(report.PlotFileName("mlp-ablation"));
        report.AddPlot(report.PlotFileName("patching"));
        foreach (var e in ablation) report.AddRow("MLP ablation (seed 0, validation benchmark)", new Dictionary<string, object?> { ["layer"] = e.Layer, ["alteration"] = e.Alteration, ["Δ accuracy"] = e.Delta, ["rows"] = e.Count });
        foreach (var e in patching) report.AddRow("patching (seed 0, validation benchmark)", new Dictionary<string, object?> { ["layer"] = e.Layer, ["alteration"] = e.Alteration, ["Δ p(gold)"] = e.Delta, ["pairs"] = e.Count });
    }
    // The most harmful layer(s); fall back to the last layer when none raises accuracy.
    var suppress = harmful.Count > 0 ? harmful.Take(2).ToArray() : new[] { baseModel.Encoder.LayerCount - 1 };
    Console.WriteLine($"seed {seed}: harmful layers [{string.Join(", ", harmful)}], regularising [{string.Join(", ", suppress)}]");

    var fineTune = ml.Data.LoadFromEnumerable(fineTuneRows);
    foreach (var (key, name, reg) in new (string, string, LayerRegularization?)[]
    {
        ("plain", "fine-tuned (no regulariser)", null),
        ("mlp", "fine-tuned + MLP-output penalty", new LayerRegularization { Kind = LayerRegularizationKind.MlpOutputPenalty, Layers = suppress, Weight = regulariserWeight }),
        ("gate", "fine-tuned + layer-gate penalty", new LayerRegularization { Kind = LayerRegularizationKind.LayerGatePenalty, Layers = suppress, Weight = regulariserWeight }),
    })
    {
        if (!models.Contains(key)) continue;
        sw.Restart();
        var o = Options(seed, fineTuneEpochs, fineTuneLearningRate);
        o.InitialEncoder = baseModel.Encoder;
        o.InitialTokenizer = baseModel.Tokenizer;
        o.LayerRegularization = reg;
        var tuned = ml.BinaryClassification.Trainers.TextTransformer(o).Fit(fineTune);
        var m = ml.PragWorld().Evaluate(tuned, testBench);
        Record(name, seed, m, sw.Elapsed.TotalSeconds);
        Keep(name, m);
        if (seed == 0) PragWorldReport.Write(m, modelReportDir, "pragworld-" + (reg?.Kind.ToString().ToLowerInvariant() ?? "finetuned"), name);
    }
    if (seed == 0) PragWorldReport.Write(baseMetrics, modelReportDir, "pragworld-base", "base model");
}

static void HeatMap(IReadOnlyList<LayerEffect> effects, string path, string title)
{
    var (rows, columns, values) = PragWorldLayerAnalysis.HeatMapGrid(effects);
    Plots.Heatmap(path, title, rows, columns, values);
}

(TextTransformerBinaryTransformer Model, bool Cached) CachedBaseModel(int seed)
{
    var cache = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "cache",
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"base-c{trainConversations}-e{epochs}-lr{learningRate}-s{seed}.zip"));
    if (File.Exists(cache))
    {
        Console.WriteLine($"base model from cache {Path.GetFullPath(cache)}");
        return ((TextTransformerBinaryTransformer)ml.Model.Load(cache, out _), true);
    }
    var model = ml.BinaryClassification.Trainers.TextTransformer(Options(seed, epochs, learningRate)).Fit(ml.Data.LoadFromEnumerable(trainRows));
    Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
    ml.Model.Save(model, null, cache);
    return (model, false);
}

var baseOriginal = Measure.Median(summary["base"].Select(m => m.OriginalAccuracy));
var baseLost = Measure.Median(summary["base"].Select(m => m.OriginalAccuracy - m.AlteredAccuracy));
foreach (var (name, list) in summary)
{
    double original = Measure.Median(list.Select(m => m.OriginalAccuracy)), altered = Measure.Median(list.Select(m => m.AlteredAccuracy));
    report.AddRow("summary (median over seeds)", new Dictionary<string, object?>
    {
        ["model"] = name, ["original acc"] = original, ["altered acc"] = altered, ["lost"] = original - altered,
        ["recovered share of base loss"] = name == "base" ? null : (baseLost - (original - altered)) / baseLost,
        ["original Δ vs base (points)"] = (original - baseOriginal) * 100,
        ["robust acc"] = Measure.Median(list.Select(m => m.RobustAccuracy)),
        ["altered acc std"] = Measure.StandardDeviation(list.Select(m => m.AlteredAccuracy)),
    });
}
report.AddNote($"Training: {trainConversations} conversations from {trainTemplates.Count} training templates; test: 500 conversations including the held-out templates {string.Join(", ", heldOut)}; all seven alterations (Flip and Invariant rows).");
report.AddNote("Harmful layers = layers whose MLP zero-out raises mean altered accuracy on a validation benchmark built from training templates (never the test set).");
report.AddNote($"Fine-tuning: {fineTuneEpochs} epochs at learning rate {fineTuneLearningRate}, warm-up + cosine; regulariser weight {regulariserWeight} on the harmful layers (at most two).");
report.AddNote($"Fine-tuning data = the {trainConversations} training conversations ({originalReplay}×) plus the altered versions of {alteredConversations} fresh training-template conversations; the same data is used with and without a regulariser, so the rows compare the regularisers, not the data.");
var (json, md) = report.Write(outDir);
Console.WriteLine($"wrote {json} and {md}");
