using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using Spectre.Console;

namespace MLNetExt.Samples;

/// <summary>The last steps every Fashion-MNIST sample ends with: save the zip and the ONNX file, then consume both.</summary>
public static class FashionMnistSteps
{
    /// <summary>True when Debian's Fashion-MNIST is installed; otherwise says how to install it.</summary>
    public static bool DataIsInstalled()
    {
        if (FashionMnist.IsInstalled()) return true;
        Console.Error.WriteLine($"Fashion-MNIST was not found in {FashionMnist.DebianDirectory}. Run: bash scripts/setup.sh (as root; Debian package dataset-fashion-mnist).");
        return false;
    }

    /// <summary>
    /// Saves <paramref name="model"/> as <c><paramref name="name"/>.zip</c> and <c>.onnx</c> in the run's folder, predicts the
    /// first row of <paramref name="test"/> through the reloaded zip and through ONNX Runtime, and checks they agree
    /// (class and probabilities within 1e-4).
    /// </summary>
    public static void SaveAndConsume(SampleRun run, MLContext ml, TorchModelTransformer model, DataViewSchema inputSchema, IDataView test, string name)
    {
        var zipPath = Path.Combine(run.OutputDirectory, name + ".zip");
        var onnxPath = Path.Combine(run.OutputDirectory, name + ".onnx");
        ml.Model.Save(model, inputSchema, zipPath);
        model.SaveAsOnnx(onnxPath);
        AnsiConsole.MarkupLine($"Saved [bold]{zipPath}[/] and [bold]{onnxPath}[/]");

        var input = ml.Data.CreateEnumerable<ModelInput>(test, reuseRowObject: false).First();
        var fromZip = ConsumeModel.PredictWithZip(zipPath, input);
        var fromOnnx = ConsumeModel.PredictWithOnnx(onnxPath, input);
        string zipClass = FashionMnist.ClassNames[(int)fromZip.PredictedLabel - 1];
        AnsiConsole.MarkupLine($"Zip (PredictionEngine): [bold]{Markup.Escape(zipClass)}[/] with probability {fromZip.Score.Max():P1} " +
            $"(true: {Markup.Escape(FashionMnist.ClassNames[(int)input.Label - 1])})");
        double gap = run.CheckClose(fromZip.Score, fromOnnx.Score, 1e-4, "zip vs ONNX Runtime class probabilities");
        AnsiConsole.MarkupLine($"ONNX Runtime:           [bold]{Markup.Escape(fromOnnx.ClassName ?? "?")}[/] with probability {fromOnnx.Score.Max():P1}; max |Δ| vs zip {gap:E2}");
        run.Check(fromOnnx.ClassName == zipClass, $"ONNX Runtime predicts '{fromOnnx.ClassName}', the zip '{zipClass}'");
    }

    /// <summary>
    /// Exports <paramref name="model"/> to a temporary .onnx file and checks that ONNX Runtime scores the first
    /// <paramref name="rows"/> test images as TorchSharp does (probabilities within 1e-4).
    /// </summary>
    public static void CheckOnnxBatch(SampleRun run, TorchModelTransformer model, IDataView test, int rows)
    {
        var path = Path.Combine(run.OutputDirectory, "batch-check.onnx");
        model.SaveAsOnnx(path);
        var features = test.GetColumn<VBuffer<float>>("Features").Take(rows).SelectMany(v => v.DenseValues()).ToArray();
        using (var session = OnnxSessionFactory.Create(path, OnnxExecutionDevice.Auto, w => AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(w)}[/]")))
        {
            var ort = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { rows, features.Length / rows }) }, "Score");
            double gap = run.CheckClose(model.Score(features, rows)[0], ort["Score"].Data, 1e-4, $"ONNX Runtime vs TorchSharp on {rows} test images");
            AnsiConsole.MarkupLine($"ONNX Runtime vs TorchSharp on {rows} test images: max |Δ| = {gap:E2}");
        }
        File.Delete(path);
    }
}
