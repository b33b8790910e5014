// MLNetExt quick-start: train a TorchSharp model inside an ML.NET pipeline, evaluate it, save and reload the
// ML.NET model zip, export ONNX, and score the ONNX file with ONNX Runtime and with ML.NET's ApplyOnnxModel.
// Data: Fashion-MNIST from Debian's dataset-fashion-mnist package (scripts/setup.sh installs it).
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using Spectre.Console;

int trainRows = args.Length > 0 ? int.Parse(args[0]) : 10000;
int epochs = args.Length > 1 ? int.Parse(args[1]) : 5;
string outDir = Path.Combine(Path.GetTempPath(), "mlnetext-quickstart");
Directory.CreateDirectory(outDir);

if (!FashionMnist.IsInstalled())
{
    AnsiConsole.MarkupLine($"[red]Fashion-MNIST was not found in {FashionMnist.DebianDirectory}.[/] Run [bold]bash scripts/setup.sh[/] (as root) first.");
    return 1;
}

var ml = new MLContext(seed: 0);
var train = FashionMnist.LoadTrain(ml, trainRows);
var test = FashionMnist.LoadTest(ml);
AnsiConsole.MarkupLine($"[bold]MLNetExt quick-start[/]: Fashion-MNIST, {trainRows} training images, 10,000 test images.");

// 1. Train (progress bar fed by IProgress<TrainingProgress>).
MlpMulticlassTransformer model = null!;
TrainingHistory history = null!;
AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
    .Start(ctx =>
    {
        var task = ctx.AddTask("Training MLP", maxValue: 1.0);
        var options = new MlpClassifierOptions
        {
            HiddenSizes = new[] { 256, 128 }, Dropout = 0.1, Epochs = epochs, BatchSize = 128, LearningRate = 2e-3,
            Schedule = LearningRateScheduleKind.WarmupCosine, WarmupEpochs = 0.5,
            Progress = new Progress<TrainingProgress>(p => { task.Value = p.Fraction; task.Description = $"Epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F3}"; }),
            ProgressEverySteps = 20,
        };
        var trainer = ml.MulticlassClassification.Trainers.TorchMlp(options);
        model = trainer.Fit(train);
        history = model.Training!.History;
        task.Value = 1.0;
    });

// 2. Evaluate with ML.NET's own evaluator.
var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
var table = new Table().AddColumns("metric", "value");
table.AddRow("micro accuracy", $"{metrics.MicroAccuracy:P2}");
table.AddRow("macro accuracy", $"{metrics.MacroAccuracy:P2}");
table.AddRow("log-loss", $"{metrics.LogLoss:F4}");
table.AddRow("train time", $"{history.Elapsed.TotalSeconds:F1} s");
AnsiConsole.Write(table);

// 3. Save the ML.NET model zip (TorchSharp weights inside), reload it in a fresh MLContext.
var zipPath = Path.Combine(outDir, "fashion-mlp.zip");
ml.Model.Save(model, train.Schema, zipPath);
var reloaded = new MLContext().Model.Load(zipPath, out _);
var original = model.Transform(test).GetColumn<uint>("PredictedLabel").ToArray();
var afterReload = reloaded.Transform(test).GetColumn<uint>("PredictedLabel").ToArray();
AnsiConsole.MarkupLine($"Saved [bold]{zipPath}[/]; reloaded predictions identical: [bold]{original.SequenceEqual(afterReload)}[/]");

// 4. Export ONNX and score it with ONNX Runtime and with ML.NET's ApplyOnnxModel.
var onnxPath = Path.Combine(outDir, "fashion-mlp.onnx");
model.SaveAsOnnx(onnxPath);
var features = test.GetColumn<VBuffer<float>>("Features").Take(64).SelectMany(v => v.DenseValues()).ToArray();
using var session = OnnxSessionFactory.Create(onnxPath, OnnxExecutionDevice.Auto, w => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(w)}[/]"));
var ort = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { 64, 784 }) }, "Score");
var torchScores = model.Transform(test).GetColumn<VBuffer<float>>("Score").Take(64).SelectMany(v => v.DenseValues()).ToArray();
AnsiConsole.MarkupLine($"Exported [bold]{onnxPath}[/]; ONNX Runtime vs TorchSharp max |Δ| = {OnnxParity.MaxAbsDifference(ort["Score"].Data, torchScores):E2}");

var onnxModel = ml.Transforms.ApplyOnnxModel(new[] { "Score" }, new[] { "Features" }, onnxPath).Fit(test);
var onnxScores = onnxModel.Transform(test).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
int same = onnxScores.Select(s => (uint)Array.IndexOf(s, s.Max()) + 1).Zip(original).Count(p => p.First == p.Second);
AnsiConsole.MarkupLine($"ML.NET ApplyOnnxModel: {same}/{original.Length} predictions equal to the TorchSharp model's.");

// 5. One prediction through a PredictionEngine, as an app would do it.
// Key columns read into uint fields hold ML.NET's 1-based key values.
var engine = ml.Model.CreatePredictionEngine<FashionImage, Prediction>(model);
var sample = ml.Data.CreateEnumerable<FashionImage>(test, reuseRowObject: false).First();
var predicted = engine.Predict(sample);
AnsiConsole.MarkupLine($"PredictionEngine: first test image is [bold]{Markup.Escape(FashionMnist.ClassNames[(int)predicted.PredictedLabel - 1])}[/] " +
    $"(true: {Markup.Escape(FashionMnist.ClassNames[(int)sample.Label - 1])}), confidence {predicted.Score.Max():P1}");
return 0;

/// <summary>One 28×28 image, as an app would pass it to the PredictionEngine.</summary>
internal sealed class FashionImage
{
    [VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
    public uint Label { get; set; }
}

/// <summary>Prediction columns as ML.NET multiclass trainers name them.</summary>
internal sealed class Prediction
{
    public uint PredictedLabel { get; set; }
    public float[] Score { get; set; } = Array.Empty<float>();
}
