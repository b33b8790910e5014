// Terminator (HyperZ·Z·W slow-fast network) on Fashion-MNIST: train, evaluate, save/reload the ML.NET zip, export ONNX
// and score the ONNX file with ONNX Runtime.
// Usage: dotnet run -c Release --project samples/TerminatorFashionMnist -- [trainRows=6000] [epochs=2] [image|sequence|permuted]
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using Spectre.Console;

int trainRows = args.Length > 0 ? int.Parse(args[0]) : 6000;
int epochs = args.Length > 1 ? int.Parse(args[1]) : 2;
string form = args.Length > 2 ? args[2] : "image";
string outDir = Path.Combine(Path.GetTempPath(), "mlnetext-terminator");
Directory.CreateDirectory(outDir);
if (!FashionMnist.IsInstalled())
{
    AnsiConsole.MarkupLine($"[red]Fashion-MNIST was not found in {FashionMnist.DebianDirectory}.[/] Run [bold]bash scripts/setup.sh[/] first.");
    return 1;
}

var ml = new MLContext(seed: 0);
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, trainRows));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml));
var options = new TerminatorOptions
{
    // 2-D: 28×28 images; 1-D: the 784 pixels as a sequence (row by row, or in a fixed random order).
    Input = form == "image" ? TerminatorInputKind.Image : TerminatorInputKind.Sequence,
    PermuteSequence = form == "permuted",
    // Images: 2×2 pixel patches become 4 channels (lossless), so the blocks run at 14×14 — about 3× faster on a CPU.
    PatchSize = form == "image" ? 2 : 1,
    LearningRate = 5e-3,
    Epochs = epochs, Seed = 0, ProgressEverySteps = 10,
};
AnsiConsole.MarkupLine($"[bold]Terminator[/] ({form}) on Fashion-MNIST: {trainRows} training images, 10,000 test images, {epochs} epochs.");

TerminatorTransformer model = null!;
AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
    .Start(ctx =>
    {
        var task = ctx.AddTask("Training", maxValue: 1.0);
        options.Progress = new Progress<TrainingProgress>(p => { task.Value = p.Fraction; task.Description = $"Epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F3}"; });
        model = ml.MulticlassClassification.Trainers.Terminator(options).Fit(train);
        task.Value = 1.0;
    });

var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
var table = new Table().AddColumns("metric", "value");
table.AddRow("test accuracy", $"{metrics.MicroAccuracy:P2}");
table.AddRow("log-loss", $"{metrics.LogLoss:F4}");
table.AddRow("parameters", $"{model.Network.parameters().Sum(p => p.numel()):N0}");
AnsiConsole.Write(table);

var zipPath = Path.Combine(outDir, "terminator.zip");
ml.Model.Save(model, train.Schema, zipPath);
var reloaded = new MLContext().Model.Load(zipPath, out _);
bool same = model.Transform(test).GetColumn<uint>("PredictedLabel").Take(500).SequenceEqual(reloaded.Transform(test).GetColumn<uint>("PredictedLabel").Take(500));
AnsiConsole.MarkupLine($"Saved [bold]{zipPath}[/]; reloaded predictions identical: [bold]{same}[/]");

var onnxPath = Path.Combine(outDir, "terminator.onnx");
model.SaveAsOnnx(onnxPath);
var features = test.GetColumn<VBuffer<float>>("Features").Take(32).SelectMany(v => v.DenseValues()).ToArray();
using var session = OnnxSessionFactory.Create(onnxPath, OnnxExecutionDevice.Auto, w => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(w)}[/]"));
var ort = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { 32, 784 }) }, "Score", "PredictedLabel");
var torchScores = model.Score(features, 32)[0];
AnsiConsole.MarkupLine($"Exported [bold]{onnxPath}[/]; ONNX Runtime vs TorchSharp max |Δ| = {OnnxParity.MaxAbsDifference(ort["Score"].Data, torchScores):E2}");
AnsiConsole.MarkupLine($"ONNX Runtime says the first test image is [bold]{Markup.Escape(FashionMnist.ClassNames[(int)ort["PredictedLabel"].Data[0]])}[/].");
return 0;
