using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetExt.Tests.Images;
using MLNetExt.Tests.Terminator;

namespace MLNetExt.Tests.Core;

/// <summary>
/// ML.NET's own whole-pipeline export, <c>mlContext.Model.ConvertToOnnx</c>, on chains holding our transformers:
/// the network is inside the file and the exported chain predicts what the ML.NET chain predicts.
/// </summary>
public sealed class PipelineOnnxTests
{
    private sealed class ImageTextRow
    {
        [VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
        public string Label { get; set; } = "";
    }

    private sealed class OnnxOutputRow
    {
        // ApplyOnnxModel names its columns after the graph outputs without ML.NET's ".output" suffix.
        public string[] PredictedLabel { get; set; } = Array.Empty<string>();
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    private static List<ImageTextRow> ImagesWithTextLabels(MLContext ml, int rows)
        => ml.Data.CreateEnumerable<ImageRow>(FashionMnist.LoadTrain(ml, rows), reuseRowObject: false)
            .Select(r => new ImageTextRow { Features = r.Features.Select(v => v * 255f).ToArray(), Label = FashionMnist.ClassNames[(int)r.Label - 1] })
            .ToList();

    [FashionMnistFact]
    public void FourStepTerminatorChainExportsWithTheNetworkAndPredictsTheSame()
    {
        var ml = new MLContext(seed: 3);
        var rows = ImagesWithTextLabels(ml, 64);
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = TerminatorTests.Tiny();
        options.Epochs = 1;
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.MulticlassClassification.Trainers.Terminator(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(data);
        var expected = model.Transform(data);
        var expectedLabels = expected.GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(m => m.ToString()).ToArray();
        var expectedScores = expected.GetColumn<float[]>("Score").ToArray();
        // A one-epoch model may favour one class; the probabilities below are compared to 1e-4 for every class of every row.

        var path = Path.Combine(Path.GetTempPath(), $"pipeline-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var file = File.Create(path)) ml.Model.ConvertToOnnx(model, data, file);
            // The network's weights are in the file (the empty-graph failure wrote about 2 KB).
            Assert.True(new FileInfo(path).Length > 20_000, $"the ONNX file has only {new FileInfo(path).Length} bytes");

            // ONNX Runtime directly: same class names and probabilities for every row.
            using var session = new InferenceSession(path);
            var features = new DenseTensor<float>(rows.SelectMany(r => r.Features).ToArray(), new[] { rows.Count, 784 });
            var labels = new DenseTensor<string>(rows.Select(r => r.Label).ToArray(), new[] { rows.Count, 1 });
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", features), NamedOnnxValue.CreateFromTensor("Label", labels) });
            var onnxLabels = results.Single(r => r.Name == "PredictedLabel.output").AsTensor<string>().ToArray();
            var onnxScores = results.Single(r => r.Name == "Score.output").AsTensor<float>().ToArray();
            Assert.Equal(expectedLabels, onnxLabels);
            Assert.True(MaxAbsDifference(expectedScores.SelectMany(s => s).ToArray(), onnxScores) < 1e-4);

            // And through ML.NET's ApplyOnnxModel, as an app would score it.
            var applied = ml.Transforms.ApplyOnnxModel(path).Fit(data).Transform(data);
            var appliedRows = ml.Data.CreateEnumerable<OnnxOutputRow>(applied, reuseRowObject: false).ToList();
            Assert.Equal(expectedLabels, appliedRows.Select(r => r.PredictedLabel.Single()));
            Assert.True(MaxAbsDifference(expectedScores.SelectMany(s => s).ToArray(), appliedRows.SelectMany(r => r.Score).ToArray()) < 1e-4);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void MlpChainExportsAndAConvertToOnnxOfANonExportableNetworkThrowsNamingIt()
    {
        var ml = new MLContext(seed: 2);
        var data = ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, seed: 4));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 16 }, Epochs = 20, LearningRate = 1e-2, Seed = 1 }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(data);
        var expected = model.Transform(data).GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(m => m.ToString()).ToArray();
        Assert.Equal(3, expected.Distinct().Count());   // the rings are learnt, so label equality below is a real check

        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(model, data, stream);
        using var session = new InferenceSession(stream.ToArray());
        var rows = SyntheticData.Rings(300, seed: 4);
        using var results = session.Run(new[]
        {
            NamedOnnxValue.CreateFromTensor("Features", new DenseTensor<float>(rows.SelectMany(r => r.Features).ToArray(), new[] { rows.Count, 2 })),
            NamedOnnxValue.CreateFromTensor("Label", new DenseTensor<string>(rows.Select(r => r.Label).ToArray(), new[] { rows.Count, 1 })),
        });
        Assert.Equal(expected, results.Single(r => r.Name == "PredictedLabel.output").AsTensor<string>().ToArray());
    }

    [FashionMnistFact]
    public void ANetworkNeedingANewerOpsetThrowsNamingTheTransformerInsteadOfWritingAnEmptyGraph()
    {
        var (ml, train) = TerminatorTests.Data(64);
        var options = TerminatorTests.Tiny(TerminatorInputKind.Sequence);
        options.Epochs = 1;
        options.PatchSize = 28;   // the 1-D model convolves by FFT: ONNX DFT, opset 17
        var model = ml.MulticlassClassification.Trainers.Terminator(options).Fit(train);
        using var stream = new MemoryStream();
        var error = Assert.ThrowsAny<Exception>(() => ml.Model.ConvertToOnnx(model, train, stream));
        var inner = error is System.Reflection.TargetInvocationException { InnerException: { } e } ? e : error;
        Assert.IsType<NotSupportedException>(inner);
        Assert.Contains("'Terminator'", inner.Message);
        Assert.Contains("DFT needs ONNX opset 17", inner.Message);
        Assert.Contains("SaveAsOnnx", inner.Message);
    }

    private static double MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}
