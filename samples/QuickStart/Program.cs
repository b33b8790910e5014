// MLNetExt quick-start: train a TorchSharp model inside an ML.NET pipeline, evaluate it, save the ML.NET model zip,
// export ONNX, then consume both as an app would (ConsumeModel.cs): the zip through a PredictionEngine and the .onnx
// file through ONNX Runtime, and check that they agree.
// Data: Fashion-MNIST from Debian's dataset-fashion-mnist package (scripts/setup.sh installs it).
// Usage: dotnet run -c Release --project samples/QuickStart -- [trainRows=10000] [epochs=5] [--smoke]
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using MLNetExt.Samples;
using Spectre.Console;

var run = SampleRun.Parse(args, "mlnetext-quickstart");
int trainRows = run.Int(0, 10000, 2000);
int epochs = run.Int(1, 5, 1);
int? testRows = run.Smoke ? 1000 : null;

if (!FashionMnistSteps.DataIsInstalled()) return 1;

var ml = new MLContext(seed: 0);
var train = FashionMnist.LoadTrain(ml, trainRows);
var test = FashionMnist.LoadTest(ml, testRows);
AnsiConsole.MarkupLine($"[bold]MLNetExt quick-start[/]: Fashion-MNIST, {trainRows:N0} training images, {testRows ?? 10000:N0} test images, {epochs} epoch(s).");

// 1. Train (progress bar fed by IProgress<TrainingProgress>).
MlpMulticlassTransformer model = null!;
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
        model = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(train);
        task.Value = 1.0;
    });

// 2. Evaluate with ML.NET's own evaluator.
var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
var table = new Table().AddColumns("metric", "value");
table.AddRow("micro accuracy", $"{metrics.MicroAccuracy:P2}");
table.AddRow("macro accuracy", $"{metrics.MacroAccuracy:P2}");
table.AddRow("log-loss", $"{metrics.LogLoss:F4}");
table.AddRow("train time", $"{model.Training!.History.Elapsed.TotalSeconds:F1} s");
AnsiConsole.Write(table);
run.Check(metrics.MicroAccuracy > 0.5, $"test accuracy {metrics.MicroAccuracy:P1} is not above 50 % (10 classes: chance is 10 %)");

// 3. Save the ML.NET model zip (TorchSharp weights inside) and the ONNX file, then consume both as an app would
//    (samples/Common/FashionMnistModel): one image through the reloaded zip's PredictionEngine and through ONNX Runtime.
FashionMnistSteps.SaveAndConsume(run, ml, model, train.Schema, test, "fashion-mlp");

// 4. Score the whole test set through the ONNX file with ML.NET's ApplyOnnxModel.
var onnxPath = Path.Combine(run.OutputDirectory, "fashion-mlp.onnx");
var original = model.Transform(test).GetColumn<uint>("PredictedLabel").ToArray();
var onnxModel = ml.Transforms.ApplyOnnxModel(new[] { "Score" }, new[] { "Features" }, onnxPath).Fit(test);
var onnxScores = onnxModel.Transform(test).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToArray();
int same = onnxScores.Select(s => (uint)Array.IndexOf(s, s.Max()) + 1).Zip(original).Count(p => p.First == p.Second);
AnsiConsole.MarkupLine($"ML.NET ApplyOnnxModel: {same}/{original.Length} predictions equal to the TorchSharp model's.");
run.Check(same == original.Length, $"ApplyOnnxModel agrees on {same} of {original.Length} test images");

return run.Finish();
