// Deploy a model with ONNX Runtime alone: no ML.NET, no TorchSharp. Loads an .onnx file written by SaveAsOnnx, reads
// the class names from its metadata (mlnetext.class_names) and prints the predictions for a few rows: the first
// Fashion-MNIST test images when the model takes 784 features and Debian's dataset-fashion-mnist is installed,
// otherwise rows of random values.
// Usage: dotnet run -c Release --project samples/OnnxDeploy -- <model.onnx> [rows=5]
//        dotnet run -c Release --project samples/OnnxDeploy -- --smoke     (the file QuickStart writes, see README)
using System.IO.Compression;
using Microsoft.ML.OnnxRuntime;
using MLNetExt.Samples;
using OnnxDeploy;

var run = SampleRun.Parse(args, "mlnetext-onnxdeploy");
string quickStartOnnx = Path.Combine(Path.GetTempPath(), "mlnetext-quickstart", "fashion-mlp.onnx");
string? path = run.Arguments.Length > 0 ? run.Arguments[0] : run.Smoke ? quickStartOnnx : null;
int count = run.Arguments.Length > 1 ? int.Parse(run.Arguments[1]) : 5;
if (path is null)
{
    Console.Error.WriteLine("Usage: OnnxDeploy <model.onnx> [rows]   (or --smoke to use the file samples/QuickStart writes)");
    return 2;
}
if (!File.Exists(path))
{
    Console.Error.WriteLine($"No ONNX file at {path}. " + (run.Smoke ? "Run samples/QuickStart first: it writes this file." : "Pass the path of a file written by SaveAsOnnx."));
    return 1;
}

using var session = new InferenceSession(path);
var input = session.InputMetadata.Single();
long width = input.Value.Dimensions[^1];
if (input.Key != "Features" || width <= 0)
{
    Console.Error.WriteLine($"{path}: expected one input 'Features' [N, F] as SaveAsOnnx writes it; found '{input.Key}' [{string.Join(", ", input.Value.Dimensions)}].");
    return 1;
}
var names = OnnxScoring.ClassNames(session);
session.ModelMetadata.CustomMetadataMap.TryGetValue("mlnetext.method", out var method);
Console.WriteLine($"{path}: method {method ?? "?"}, input Features [N, {width}], outputs {string.Join(", ", session.OutputMetadata.Keys)}");
Console.WriteLine(names is null ? "No class names in the metadata: classes are printed as indices." : $"Class names from the metadata: {string.Join(", ", names)}");
run.Check(!run.Smoke || names is { Length: 10 }, "the QuickStart model carries its 10 class names in mlnetext.class_names");

var rows = Rows((int)width, count).ToList();
int correct = 0;
foreach (var (row, i) in rows.Select((r, i) => (r, i)))
{
    var outputs = OnnxScoring.Score(session, row.Features, rows: 1);
    var prediction = new ModelOutput { Score = outputs["Score"], PredictedLabel = (long)outputs["PredictedLabel"][0] };
    string Name(long c) => c < 0 ? "(none)" : names is not null && c < names.Length ? names[c] : $"class {c}";
    int best = Array.IndexOf(prediction.Score, prediction.Score.Max());
    run.Check(best == prediction.PredictedLabel, $"row {i}: PredictedLabel {prediction.PredictedLabel} is not the most probable class {best}");
    run.Check(Math.Abs(prediction.Score.Sum() - 1) < 1e-4, $"row {i}: the probabilities sum to {prediction.Score.Sum()}, not 1");
    if (row.TrueClass == prediction.PredictedLabel) correct++;
    Console.WriteLine($"row {i}: {Name(prediction.PredictedLabel),-12} probability {prediction.Score.Max(),6:P1}" + (row.TrueClass is { } t ? $"   (true: {Name(t)})" : ""));
}
if (rows.All(r => r.TrueClass is not null)) Console.WriteLine($"{correct} of {rows.Count} correct.");
return run.Finish();

// The first test images of Debian's Fashion-MNIST for a 784-feature model, otherwise random rows.
static IEnumerable<ModelInput> Rows(int width, int count)
{
    const string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (width == 784 && File.Exists(images) && File.Exists(labels))
    {
        Console.WriteLine($"Rows: the first {count} Fashion-MNIST test images ({images}).");
        byte[] pixels = Gunzip(images), classes = Gunzip(labels);   // IDX: 16-byte image header, 8-byte label header
        for (int i = 0; i < count; i++)
            yield return new ModelInput { Features = pixels.AsSpan(16 + i * 784, 784).ToArray().Select(p => p / 255f).ToArray(), TrueClass = classes[8 + i] };
        yield break;
    }
    Console.WriteLine($"Rows: {count} rows of {width} random values in [0, 1).");
    var random = new Random(0);
    for (int i = 0; i < count; i++)
        yield return new ModelInput { Features = Enumerable.Range(0, width).Select(_ => random.NextSingle()).ToArray() };
}

static byte[] Gunzip(string file)
{
    using var stream = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    return memory.ToArray();
}
