// PragWorld evaluation sample: generate two-party conversations with yes/no questions, train a small Transformer,
// and measure how robust it is on a benchmark of original and minimally altered rows — then look inside it layer by
// layer. The benchmark is the PragWorld authors' manual set when ../shared/data/pragworld (beside the repository)
// holds it, otherwise generated conversations with the seven alterations applied; the sample says which.
// Then the consumption step (ConsumeModel.cs): one altered question through the reloaded zip and through ONNX Runtime.
// Usage: dotnet run -c Release --project samples/PragWorldEvaluation -- [conversations=600] [epochs=6] [--smoke]
//   --smoke: 80 conversations, 1 epoch, generated evaluation data (60 conversations) even when the authors' set is present.
using Microsoft.ML;
using MLNetExt;
using MLNetExt.Samples;
using PragWorldEvaluation;
using Spectre.Console;

var run = SampleRun.Parse(args, "mlnetext-pragworld");
int conversations = run.Int(0, 600, 80);
int epochs = run.Int(1, 6, 1);
var outDir = run.OutputDirectory;
var ml = new MLContext(seed: 0);

// 1. Data: conversations from the training templates; the test set also uses templates the model never saw.
List<PragWorldQuestionRow> Rows(int n, int seed, IReadOnlyList<string> templates) =>
    new ConversationGenerator(new ConversationGeneratorOptions { Seed = seed, Templates = templates }).Generate(n).SelectMany(c => c.ToQuestionRows()).ToList();
var train = ml.Data.LoadFromEnumerable(Rows(conversations, 1, ConversationGenerator.DefaultTrainingTemplateIds));
IDataView benchmark;
var realCsv = run.Smoke ? null : FindAuthorsBenchmark();
if (realCsv is not null)
{
    benchmark = ml.PragWorld().LoadCsv(realCsv, null, out var report);
    AnsiConsole.MarkupLine($"evaluation data: [bold]the PragWorld authors' manual benchmark[/] {Markup.Escape(realCsv)}");
    AnsiConsole.MarkupLine($"  loaded {Markup.Escape(report.ToString())}");
    var replies = Path.Combine(Path.GetDirectoryName(realCsv)!, "predictions", "llama-3.1-70b-instruct.txt");
    if (File.Exists(replies))
    {
        var llm = ml.PragWorld().EvaluateReplies(benchmark, File.ReadAllLines(replies));
        AnsiConsole.MarkupLine($"  released Llama-3.1-70B-Instruct answers: accuracy {llm.Accuracy:P2}, robust {llm.RobustAccuracy:P2}");
    }
}
else
{
    var testOriginals = ml.Data.LoadFromEnumerable(Rows(run.Smoke ? 60 : 200, 2, ConversationGenerator.TemplateIds));
    benchmark = ml.PragWorld().Alterations.BuildBenchmark(testOriginals, new PragWorldAlterationOptions { Seed = 3 });
    AnsiConsole.MarkupLine("evaluation data: [bold]generated conversations[/] with the seven alterations" +
        (run.Smoke ? " (--smoke)" : " (../shared/data/pragworld not found beside the repository)"));
}
var example = ml.Data.CreateEnumerable<PragWorldQuestionRow>(benchmark, false).First(r => r.AlterationEffect == AlterationEffects.Flip);
AnsiConsole.Write(new Panel($"{Markup.Escape(example.Conversation)}\n\n[bold]Q:[/] {Markup.Escape(example.Question)}  [bold]A:[/] {(example.Label ? "yes" : "no")}  " +
    $"[grey]({Markup.Escape(example.Alteration)}, {Markup.Escape(example.AlterationNote)})[/]").Header("an altered conversation"));

// 2. Train a small Transformer on (conversation, question) pairs.
TextTransformerBinaryTransformer model = null!;
AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()).Start(ctx =>
{
    var task = ctx.AddTask("training", maxValue: 1);
    model = ml.BinaryClassification.Trainers.TextTransformer(new TextClassifierOptions
    {
        FeatureColumnName = "Conversation", SecondTextColumnName = "Question", MaxLength = 128, Layers = 4, ModelDimension = 64,
        Heads = 4, FeedForwardDimension = 128, Epochs = epochs, LearningRate = 1e-3, Schedule = LearningRateScheduleKind.WarmupCosine,
        ProgressEverySteps = 10,
        Progress = new Progress<TrainingProgress>(p => { task.Value = p.Fraction; task.Description = $"epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F3}"; }),
    }).Fit(train);
    task.Value = 1;
});

// 3. Evaluate: accuracy per alteration, drop from the original, consistency; Markdown/HTML report with a bar chart.
var metrics = ml.PragWorld().Evaluate(model, benchmark);
var table = new Table().AddColumns("alteration", "rows", "accuracy", "same questions, original", "drop", "consistency");
foreach (var a in metrics.PerAlteration)
    table.AddRow(a.Alteration, a.Count.ToString(), $"{a.Accuracy:P1}", $"{a.OriginalAccuracy:P1}", $"{a.Drop * 100:+0.0;-0.0} pts", $"{a.Consistency:P1}");
AnsiConsole.Write(table);
AnsiConsole.MarkupLine($"original {metrics.OriginalAccuracy:P1}, altered {metrics.AlteredAccuracy:P1}, robust {metrics.RobustAccuracy:P1}");
PragWorldReport.Write(metrics, outDir, "report", "PragWorld evaluation of the sample model");

// 4. Layer analysis: which layers help or hurt under each alteration.
var ablation = ml.PragWorld().MlpAblation(model, benchmark);
PragWorldLayerAnalysis.WriteHeatMap(ablation, Path.Combine(outDir, "mlp-ablation.png"), "Accuracy change when a layer's MLP is zeroed");
var harmful = ml.PragWorld().HarmfulLayers(ablation);
AnsiConsole.MarkupLine($"harmful layers (ablation raises altered accuracy): [bold]{(harmful.Count == 0 ? "none" : string.Join(", ", harmful))}[/]");

run.Check(metrics.OriginalAccuracy > 0.4, $"accuracy on the original rows {metrics.OriginalAccuracy:P1} is not above 40 %");
run.Check(metrics.PerAlteration.Count > 0 && metrics.PerAlteration.All(a => a.Count > 0), "every alteration has benchmark rows");

// 5. Save the model like any ML.NET model, and export it to ONNX (input: token ids).
var zipPath = Path.Combine(outDir, "pragworld-model.zip");
var onnxPath = Path.Combine(outDir, "pragworld-model.onnx");
ml.Model.Save(model, train.Schema, zipPath);
model.SaveAsOnnx(onnxPath);
AnsiConsole.MarkupLine($"report, heat map, model zip and ONNX file written to [bold]{outDir}[/]");

// 6. Consume, as an app would: the altered question shown above through the reloaded zip and through ONNX Runtime.
var input = new ModelInput { Conversation = example.Conversation, Question = example.Question, Label = example.Label };
var fromZip = ZipModel.Predict<ModelInput, ModelOutput>(zipPath, input);
float fromOnnx = ConsumeModel.PredictWithOnnx(onnxPath, model, input);
AnsiConsole.MarkupLine($"Zip (PredictionEngine): answer [bold]{(fromZip.PredictedLabel ? "yes" : "no")}[/], P(yes) {fromZip.Probability:P1} (true: {(input.Label ? "yes" : "no")})");
double gap = run.CheckClose(new[] { fromZip.Probability }, new[] { fromOnnx }, 1e-4, "zip vs ONNX Runtime probability");
AnsiConsole.MarkupLine($"ONNX Runtime:           P(yes) {fromOnnx:P1}; |Δ| vs zip {gap:E2}");
return run.Finish();

// The authors' manual CSV in ../shared/data/pragworld beside the directory holding MLNetExt.sln, or null.
static string? FindAuthorsBenchmark()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) continue;
            var csv = Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared", "data", "pragworld", "Manual_Dataset_500.csv");
            return File.Exists(csv) ? csv : null;
        }
    }
    return null;
}
