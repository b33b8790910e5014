// Package smoke test: `train DIR` trains a small TorchSharp MLP inside an ML.NET pipeline, saves the model zip, writes
// its predictions and exports the whole pipeline to ONNX; `check DIR`, run as a second process, reloads the zip and
// the ONNX file and checks that both predict what the first process predicted. Exit code 0 = all checks passed.
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetExt;

if (args.Length != 2 || (args[0] != "train" && args[0] != "check")) { Console.Error.WriteLine("usage: PackageSmoke train|check DIR"); return 2; }
var dir = args[1];
Directory.CreateDirectory(dir);
string zip = Path.Combine(dir, "model.zip"), onnx = Path.Combine(dir, "model.onnx"), expected = Path.Combine(dir, "predictions.txt");
var ml = new MLContext(seed: 1);
var rows = Rings(400, seed: 7);
var data = ml.Data.LoadFromEnumerable(rows);

if (args[0] == "train")
{
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 32 }, Epochs = 40, LearningRate = 1e-2, Seed = 1 }))
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    var model = pipeline.Fit(data);
    var predictions = Predictions(model.Transform(data));
    double accuracy = predictions.Zip(rows, (p, r) => p == r.Label ? 1.0 : 0.0).Average();
    Console.WriteLine($"trained: training accuracy {accuracy:P1}");
    if (accuracy < 0.8) { Console.Error.WriteLine("the model did not learn the rings (accuracy below 80 %)"); return 1; }
    ml.Model.Save(model, data.Schema, zip);
    File.WriteAllLines(expected, predictions);
    using (var file = File.Create(onnx)) ml.Model.ConvertToOnnx(model, data, file);
    Console.WriteLine($"saved {zip} ({new FileInfo(zip).Length:N0} bytes) and {onnx} ({new FileInfo(onnx).Length:N0} bytes)");
    return 0;
}

var want = File.ReadAllLines(expected);
var loaded = ml.Model.Load(zip, out _);
var again = Predictions(loaded.Transform(data));
int zipSame = again.Zip(want, (a, b) => a == b ? 1 : 0).Sum();
var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(loaded);
int engineSame = rows.Select(r => engine.Predict(r).PredictedLabel).Zip(want, (a, b) => a == b ? 1 : 0).Sum();
using var session = new InferenceSession(onnx);
using var results = session.Run(new[]
{
    NamedOnnxValue.CreateFromTensor("Features", new DenseTensor<float>(rows.SelectMany(r => r.Features).ToArray(), new[] { rows.Count, 2 })),
    NamedOnnxValue.CreateFromTensor("Label", new DenseTensor<string>(rows.Select(r => r.Label).ToArray(), new[] { rows.Count, 1 })),
});
var onnxLabels = results.Single(r => r.Name == "PredictedLabel.output").AsTensor<string>().ToArray();
int onnxSame = onnxLabels.Zip(want, (a, b) => a == b ? 1 : 0).Sum();
Console.WriteLine($"reloaded zip: {zipSame}/{want.Length}, PredictionEngine: {engineSame}/{want.Length}, ONNX Runtime: {onnxSame}/{want.Length} predictions equal");
return zipSame == want.Length && engineSame == want.Length && onnxSame == want.Length ? 0 : 1;

static List<string> Predictions(IDataView scored) => scored.GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(m => m.ToString()).ToList();

// Three concentric rings, one class per ring: a linear model cannot separate them, a small MLP can.
static List<Row> Rings(int count, int seed)
{
    var rng = new Random(seed);
    var names = new[] { "inner", "middle", "outer" };
    return Enumerable.Range(0, count).Select(_ =>
    {
        int c = rng.Next(3);
        double r = 0.5 + c + rng.NextDouble() * 0.6, a = rng.NextDouble() * 2 * Math.PI;
        return new Row { Features = new[] { (float)(r * Math.Cos(a)), (float)(r * Math.Sin(a)) }, Label = names[c] };
    }).ToList();
}

sealed class Row
{
    [VectorType(2)] public float[] Features { get; set; } = Array.Empty<float>();
    public string Label { get; set; } = "";
}

sealed class Prediction
{
    public string PredictedLabel { get; set; } = "";
}
