// Terminator (HyperZ·Z·W slow-fast network) on Fashion-MNIST: train, evaluate, save/reload the ML.NET zip, export ONNX
// and score the ONNX file with ONNX Runtime, then consume the zip and the ONNX file as an app would.
// Usage: dotnet run -c Release --project samples/TerminatorFashionMnist -- [trainRows=6000] [epochs=2] [image|sequence|permuted] [--smoke]
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using MLNetExt.Samples;
using Spectre.Console;

var run = SampleRun.Parse(args, "mlnetext-terminator");
int trainRows = run.Int(0, 6000, 2000);
int epochs = run.Int(1, 2, 2);
string form = run.Text(2, "image");
int? testRows = run.Smoke ? 500 : null;
if (!FashionMnistSteps.DataIsInstalled()) return 1;

var ml = new MLContext(seed: 0);
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, trainRows));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, testRows));
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
AnsiConsole.MarkupLine($"[bold]Terminator[/] ({form}) on Fashion-MNIST: {trainRows:N0} training images, {testRows ?? 10000:N0} test images, {epochs} epoch(s).");

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

run.Check(metrics.MicroAccuracy > 0.3, $"test accuracy {metrics.MicroAccuracy:P1} is not above 30 % (10 classes: chance is 10 %)");

FashionMnistSteps.CheckOnnxBatch(run, model, test, rows: 32);

// Save the zip and the ONNX file, then consume both (samples/Common/FashionMnistModel).
FashionMnistSteps.SaveAndConsume(run, ml, model, train.Schema, test, "terminator");
return run.Finish();
