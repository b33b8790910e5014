using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MLNetExt.Tests.Core;

/// <summary>
/// Scoring rows whose features hold NaN or ±Infinity: ML.NET's convention (NaN scores, missing key label 0) by
/// default, an exception naming row and index with NonFiniteFeatures = Throw, and what the ONNX exports return.
/// </summary>
public sealed class NonFiniteScoringTests
{
    private static readonly float[] Bad = { float.NaN, float.PositiveInfinity, float.NegativeInfinity };

    private sealed class Row2
    {
        [VectorType(2)] public float[] Features { get; set; } = new float[2];
    }

    private sealed class Row16
    {
        [VectorType(16)] public float[] Features { get; set; } = new float[16];
        public uint Label { get; set; }
    }

    private sealed class Prediction
    {
        public float[] Score { get; set; } = Array.Empty<float>();
        public uint PredictedLabel { get; set; }
    }

    /// <summary>Every pair of (finite, NaN, +Inf, −Inf) values with at least one non-finite: 15 probes.</summary>
    private static List<float[]> Probes()
    {
        var values = new[] { 0.5f }.Concat(Bad).ToArray();
        return (from a in values from b in values where !(float.IsFinite(a) && float.IsFinite(b)) select new[] { a, b }).ToList();
    }

    private static MlpMulticlassTransformer TrainMlp(MLContext ml, NonFiniteFeatureHandling handling = NonFiniteFeatureHandling.MissingPrediction)
        => ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions
        {
            HiddenSizes = new[] { 8 }, Epochs = 3, Seed = 1, Device = TorchDeviceKind.Cpu, ScoringBatchSize = 4, NonFiniteFeatures = handling,
        }).Fit(SyntheticData.RingsView(ml, 60, 1));

    /// <summary>Probes interleaved with finite rows; returns the scored (Score, PredictedLabel) per row.</summary>
    private static List<Prediction> ScoreInterleaved(MLContext ml, ITransformer model, List<float[]> probes, Func<int, float[]> finite)
    {
        var rows = new List<Row2>();
        for (int i = 0; i < probes.Count; i++)
        {
            rows.Add(new Row2 { Features = finite(i) });
            rows.Add(new Row2 { Features = probes[i] });
        }
        return ml.Data.CreateEnumerable<Prediction>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
    }

    [Fact]
    public void MlpClassifierGivesNaNScoresAndAMissingLabelForEveryNonFiniteProbe()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainMlp(ml);
        var probes = Probes();
        Assert.Equal(15, probes.Count);
        float[] Finite(int i) => new[] { 0.3f * i - 2, 1.5f - 0.2f * i };
        var scored = ScoreInterleaved(ml, model, probes, Finite);

        for (int i = 0; i < probes.Count; i++)
        {
            var bad = scored[2 * i + 1];
            Assert.True(bad.Score.Length == 3 && bad.Score.All(float.IsNaN), $"probe {string.Join(", ", probes[i])}: scores {string.Join(", ", bad.Score)}");
            Assert.Equal(0u, bad.PredictedLabel);
            // The finite row in the same batch scores as it does alone (up to the batched product's rounding).
            var alone = model.Score(Finite(i), 1);
            var good = scored[2 * i];
            Assert.True(OnnxParity.MaxAbsDifference(good.Score, alone[0]) < 1e-6, $"finite row {2 * i}");
            Assert.Equal((uint)alone[1][0] + 1, good.PredictedLabel);
        }

        // PredictionEngine (one row at a time) follows the same rule.
        var engine = ml.Model.CreatePredictionEngine<Row2, Prediction>(model);
        var single = engine.Predict(new Row2 { Features = new[] { float.NaN, 1f } });
        Assert.All(single.Score, s => Assert.True(float.IsNaN(s)));
        Assert.Equal(0u, single.PredictedLabel);
        Assert.NotEqual(0u, engine.Predict(new Row2 { Features = new[] { 1f, 1f } }).PredictedLabel);
    }

    [Fact]
    public void ThrowOptionNamesRowAndIndexAndIsSavedWithTheModel()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainMlp(ml, NonFiniteFeatureHandling.Throw);
        var rows = Enumerable.Range(0, 6).Select(i => new Row2 { Features = new[] { i * 0.1f, 1f } }).ToList();
        rows[5].Features[1] = float.PositiveInfinity;   // second scoring batch (ScoringBatchSize 4), so the row number counts across batches
        var view = ml.Data.LoadFromEnumerable(rows);

        void AssertThrows(ITransformer m)
        {
            var e = Assert.Throws<InvalidDataException>(() => m.Transform(view).GetColumn<uint>("PredictedLabel").ToList());
            Assert.StartsWith("Feature column 'Features', row 5: value at index 1 is +Infinity.", e.Message);
            Assert.Contains("MissingPrediction", e.Message);
        }
        AssertThrows(model);
        using var stream = new MemoryStream();
        ml.Model.Save(model, view.Schema, stream);
        stream.Position = 0;
        var loaded = (MlpMulticlassTransformer)new MLContext().Model.Load(stream, out _);
        Assert.Equal(NonFiniteFeatureHandling.Throw, loaded.NonFiniteFeatures);
        AssertThrows(loaded);

        var engine = ml.Model.CreatePredictionEngine<Row2, Prediction>(loaded);
        var single = Assert.Throws<InvalidDataException>(() => engine.Predict(new Row2 { Features = new[] { float.NaN, 0f } }));
        Assert.StartsWith("Feature column 'Features', row 0: value at index 0 is NaN.", single.Message);
        // The finite rows still score.
        Assert.Equal(5, loaded.Transform(ml.Data.LoadFromEnumerable(rows.Take(5))).GetColumn<uint>("PredictedLabel").Count(l => l > 0));
    }

    [Fact]
    public void MlpRegressorGivesANaNScore()
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Regression.Trainers.TorchMlp(new MlpRegressorOptions { HiddenSizes = new[] { 8 }, Epochs = 2, Seed = 1, Device = TorchDeviceKind.Cpu })
            .Fit(ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(60, 1)));
        var rows = SyntheticData.SmoothFunction(6, 2);
        for (int i = 0; i < 3; i++) rows[2 * i + 1].Features[i] = Bad[i];
        var scores = model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<float>("Score").ToArray();
        for (int i = 0; i < 6; i++)
            Assert.True(i % 2 == 1 ? float.IsNaN(scores[i]) : float.IsFinite(scores[i]), $"row {i}: {scores[i]}");
    }

    [Fact]
    public void TerminatorClassifierGivesNaNScoresAndAMissingLabelOrThrows()
    {
        var ml = new MLContext(seed: 0);
        var rng = new Random(3);
        var train = Enumerable.Range(0, 48).Select(i => new Row16 { Label = (uint)(i % 3) + 1, Features = Enumerable.Range(0, 16).Select(j => (float)rng.NextDouble() + (j % 3 == i % 3 ? 1f : 0f)).ToArray() }).ToList();
        var trainView = ml.Data.LoadFromEnumerable(train);
        var options = new TerminatorOptions { BlockChannels = new[] { 4 }, GlobalHidden = 4, LocalHidden = 4, Epochs = 1, BatchSize = 16, Seed = 1, WarmupEpochs = 0, Device = TorchDeviceKind.Cpu };
        // Key labels with 3 values: the training view's Label column must be a key.
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(trainView).Transform(trainView);
        var model = ml.MulticlassClassification.Trainers.Terminator(options).Fit(keyed);

        var probes = train.Take(6).Select((r, i) => { var f = (float[])r.Features.Clone(); f[i * 3] = Bad[i % 3]; return new Row16 { Features = f, Label = r.Label }; }).ToList();
        var rows = train.Take(6).Zip(probes, (a, b) => new[] { a, b }).SelectMany(x => x).ToList();
        var scored = ml.Data.CreateEnumerable<Prediction>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            bool bad = i % 2 == 1;
            Assert.True(bad ? scored[i].Score.All(float.IsNaN) : scored[i].Score.All(float.IsFinite), $"row {i}: {string.Join(", ", scored[i].Score)}");
            Assert.True(bad ? scored[i].PredictedLabel == 0 : scored[i].PredictedLabel is >= 1 and <= 3, $"row {i}: label {scored[i].PredictedLabel}");
        }

        // ONNX (the model alone): NaN scores and class −1 for the same rows, the TorchSharp scores elsewhere.
        var path = Path.Combine(Path.GetTempPath(), $"terminator-nonfinite-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            using var session = new InferenceSession(path);
            var features = rows.SelectMany(r => r.Features).ToArray();
            var onnx = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { rows.Count, 16 }) }, "Score", "PredictedLabel");
            for (int i = 0; i < rows.Count; i++)
            {
                var score = onnx["Score"].Data.AsSpan(i * 3, 3).ToArray();
                if (i % 2 == 1)
                {
                    Assert.True(score.All(float.IsNaN), $"ONNX row {i}: {string.Join(", ", score)}");
                    Assert.Equal(-1f, onnx["PredictedLabel"].Data[i]);
                }
                else
                {
                    Assert.True(OnnxParity.MaxAbsDifference(score, scored[i].Score) < 1e-4, $"ONNX row {i}");
                    Assert.Equal(scored[i].PredictedLabel - 1, (uint)onnx["PredictedLabel"].Data[i]);
                }
            }
        }
        finally { File.Delete(path); }

        model.NonFiniteFeatures = NonFiniteFeatureHandling.Throw;
        var e = Assert.Throws<InvalidDataException>(() => model.Transform(ml.Data.LoadFromEnumerable(rows)).GetColumn<uint>("PredictedLabel").ToList());
        Assert.StartsWith("Feature column 'Features', row 1: value at index 0 is NaN.", e.Message);
    }

    [Fact]
    public void OnnxExportsGiveNaNScoresAndNoClassForNonFiniteRows()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainMlp(ml);
        var probes = Probes();
        var finite = new[] { 1f, -0.5f };
        var features = probes.Prepend(finite).SelectMany(p => p).ToArray();
        int n = probes.Count + 1;
        var expected = model.Score(features, n);

        // The model alone (opset 20): class index −1 for a missing prediction.
        var path = Path.Combine(Path.GetTempPath(), $"mlp-nonfinite-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            using var session = new InferenceSession(path);
            var onnx = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { n, 2 }) }, "Score", "PredictedLabel");
            Assert.True(OnnxParity.MaxAbsDifference(onnx["Score"].Data.AsSpan(0, 3), expected[0].AsSpan(0, 3)) < 1e-5);
            Assert.Equal(expected[1][0], onnx["PredictedLabel"].Data[0]);
            for (int i = 1; i < n; i++)
            {
                Assert.True(onnx["Score"].Data.AsSpan(i * 3, 3).ToArray().All(float.IsNaN), $"probe {i}");
                Assert.Equal(-1f, onnx["PredictedLabel"].Data[i]);
            }
        }
        finally { File.Delete(path); }

        // ML.NET's whole-pipeline export (opset 12): the key is 0, ML.NET's missing value.
        var rows = ml.Data.LoadFromEnumerable(probes.Prepend(finite).Select(p => new Row2 { Features = p }).ToList());
        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(model, rows, stream);
        using var pipeline = new InferenceSession(stream.ToArray());
        using var results = pipeline.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", new DenseTensor<float>(features, new[] { n, 2 })) });
        var labels = results.Single(r => r.Name == "PredictedLabel.output").AsTensor<uint>().ToArray();
        Assert.Equal((uint)expected[1][0] + 1, labels[0]);
        Assert.All(labels.Skip(1), l => Assert.Equal(0u, l));
        Assert.All(results.Single(r => r.Name == "Score.output").AsTensor<float>().ToArray().Skip(3), s => Assert.True(float.IsNaN(s)));
    }
}
