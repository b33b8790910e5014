using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Core;

public class MlpCoreTests
{
    private static MlpClassifierOptions FastOptions(int epochs = 30) => new()
    {
        HiddenSizes = new[] { 32, 32 }, Epochs = epochs, BatchSize = 32, LearningRate = 0.01, Seed = 7, Device = TorchDeviceKind.Cpu,
    };

    private static (MLContext Ml, IDataView Train, IDataView Test, MlpMulticlassTransformer Model, MlpMulticlassTrainer Trainer) TrainRings(MlpClassifierOptions? options = null)
    {
        var ml = new MLContext(seed: 1);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1)));
        var train = toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1)));
        var test = toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 2)));
        var trainer = ml.MulticlassClassification.Trainers.TorchMlp(options ?? FastOptions());
        return (ml, train, test, trainer.Fit(train), trainer);
    }

    [Fact]
    public void MlpLearnsNonLinearClassesAndBeatsLinearBaseline()
    {
        var (ml, train, test, model, _) = TrainRings();
        var history = model.Training!.History;
        Assert.True(history.TrainLoss[^1] < 0.5 * history.TrainLoss[0], $"loss {history.TrainLoss[0]} -> {history.TrainLoss[^1]}");

        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        var linear = ml.MulticlassClassification.Trainers.SdcaMaximumEntropy().Fit(train);
        var linearMetrics = ml.MulticlassClassification.Evaluate(linear.Transform(test));
        Assert.True(metrics.MacroAccuracy > 0.9, $"MLP accuracy {metrics.MacroAccuracy}");
        Assert.True(metrics.MacroAccuracy > linearMetrics.MacroAccuracy + 0.2, $"MLP {metrics.MacroAccuracy} vs linear {linearMetrics.MacroAccuracy}");
    }

    [Fact]
    public void PredictedLabelMapsBackToClassNamesAndMatchesArgmaxOfScore()
    {
        var (ml, _, test, model, _) = TrainRings();
        var scored = ml.Transforms.Conversion.MapKeyToValue("PredictedName", "PredictedLabel").Fit(model.Transform(test)).Transform(model.Transform(test));
        var names = scored.GetColumn<ReadOnlyMemory<char>>("PredictedName").Select(m => m.ToString()).ToList();
        var scores = SyntheticData.Column(scored, "Score");
        var slotNames = default(VBuffer<ReadOnlyMemory<char>>);
        scored.Schema["Score"].GetSlotNames(ref slotNames);
        var classes = slotNames.DenseValues().Select(m => m.ToString()).ToArray();
        Assert.Equal(new[] { "inner", "middle", "outer" }.OrderBy(s => s), classes.OrderBy(s => s));
        for (int i = 0; i < names.Count; i++)
        {
            Assert.Equal(classes[Array.IndexOf(scores[i], scores[i].Max())], names[i]);
            Assert.Equal(1.0, scores[i].Sum(), 4);
        }
    }

    [Fact]
    public void SaveAndLoadInFreshContextGivesIdenticalPredictions()
    {
        var (ml, train, test, model, _) = TrainRings(FastOptions(epochs: 3));
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-mlp-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, train.Schema, path);
            var fresh = new MLContext();
            var loaded = fresh.Model.Load(path, out var schema);
            Assert.IsType<MlpMulticlassTransformer>(loaded);
            var before = SyntheticData.Column(model.Transform(test), "Score");
            var after = SyntheticData.Column(loaded.Transform(test), "Score");
            Assert.Equal(before.Count, after.Count);
            for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);

            // PredictionEngine on the loaded model agrees with batched Transform (batch size changes float summation order only).
            var engine = fresh.Model.CreatePredictionEngine<VectorRow, ScoreOutput>(
                fresh.Transforms.Conversion.MapValueToKey("Label").Fit(fresh.Data.LoadFromEnumerable(SyntheticData.Rings(10, 1))).Append(loaded));
            var rows = SyntheticData.Rings(300, 2);
            for (int i = 0; i < 20; i++) Assert.True(OnnxParity.MaxAbsDifference(engine.Predict(rows[i]).Score, before[i]) < 1e-6, $"row {i}");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void PipelineWithPreprocessingSavesAndLoads()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 3));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.MulticlassClassification.Trainers.TorchMlp(FastOptions(epochs: 2)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(data);
        using var stream = new MemoryStream();
        ml.Model.Save(model, data.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext().Model.Load(stream, out _);
        var a = model.Transform(data).GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(m => m.ToString()).ToList();
        var b = loaded.Transform(data).GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(m => m.ToString()).ToList();
        Assert.Equal(a, b);
        Assert.Contains(a, v => v is "inner" or "middle" or "outer");
    }

    [Fact]
    public void OnnxExportMatchesTorchSharpAndMlNetApplyOnnxModel()
    {
        var (ml, _, test, model, _) = TrainRings(FastOptions(epochs: 5));
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-mlp-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var features = SyntheticData.Column(test, "Features");
            var expected = SyntheticData.Flatten(SyntheticData.Column(model.Transform(test), "Score"));
            double diff = OnnxParity.Compare(path, "Features", SyntheticData.Flatten(features), new[] { features.Count, 2 }, "Score", expected);
            Assert.True(diff <= 1e-5, $"max |ONNX - TorchSharp| = {diff}");

            var onnx = ml.Transforms.ApplyOnnxModel(new[] { "Score" }, new[] { "Features" }, path).Fit(test);
            var viaMlNet = SyntheticData.Column(onnx.Transform(test), "Score");
            Assert.True(OnnxParity.MaxAbsDifference(SyntheticData.Flatten(viaMlNet), expected) <= 1e-5);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void OnnxBatchOfOneMatchesBatchedScoring()
    {
        var (_, _, test, model, _) = TrainRings(FastOptions(epochs: 2));
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-mlp1-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var features = SyntheticData.Column(test, "Features");
            var scores = SyntheticData.Column(model.Transform(test), "Score");
            using var session = OnnxSessionFactory.Create(path);
            var outputs = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features[5], new[] { 1, 2 }) }, "Score", "PredictedLabel");
            Assert.True(OnnxParity.MaxAbsDifference(outputs["Score"].Data, scores[5]) <= 1e-5);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void SameSeedGivesSameModelAndDifferentSeedDoesNot()
    {
        var a = TrainRings(FastOptions(epochs: 2));
        var b = TrainRings(FastOptions(epochs: 2));
        var o = FastOptions(epochs: 2);
        o.Seed = 8;
        var c = TrainRings(o);
        var sa = SyntheticData.Column(a.Model.Transform(a.Test), "Score");
        Assert.Equal(sa, SyntheticData.Column(b.Model.Transform(b.Test), "Score"));
        Assert.NotEqual(sa, SyntheticData.Column(c.Model.Transform(c.Test), "Score"));
    }

    [Fact]
    public void ProgressIsReportedPerEpochAndLogReachesMlContext()
    {
        var reports = new List<TrainingProgress>();
        var options = FastOptions(epochs: 3);
        options.Progress = new SyncProgress<TrainingProgress>(reports.Add);
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(SyntheticData.RingsView(ml, 100, 1));
        Assert.Equal(new[] { 1, 2, 3 }, reports.Select(r => r.Epoch));
        Assert.Equal(1.0, reports[^1].Fraction);
        Assert.Contains(log, m => m.Contains("Epoch 3/3"));
    }

    [Fact]
    public void CancellationStopsTraining()
    {
        using var cts = new CancellationTokenSource();
        var options = FastOptions(epochs: 50);
        options.CancellationToken = cts.Token;
        options.Progress = new SyncProgress<TrainingProgress>(p => { if (p.Epoch == 2) cts.Cancel(); });
        var ml = new MLContext(seed: 1);
        var trainer = ml.MulticlassClassification.Trainers.TorchMlp(options);
        Assert.Throws<OperationCanceledException>(() => trainer.Fit(SyntheticData.RingsView(ml, 100, 1)));
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestValidationEpoch()
    {
        var options = FastOptions(epochs: 40);
        options.LearningRate = 0.2;   // large steps make validation loss bounce, so the best epoch is not the last
        options.ValidationFraction = 0.3;
        options.EarlyStoppingPatience = 3;
        var (_, _, _, model, _) = TrainRings(options);
        var h = model.Training!.History;
        Assert.Equal(h.ValidationLoss.Min(), h.ValidationLoss[h.BestEpoch - 1]);
        if (h.StoppedEarly) Assert.Equal(h.BestEpoch + options.EarlyStoppingPatience, h.ValidationLoss.Count);
        Assert.True(h.TrainLoss.Count < 40 || !h.StoppedEarly);
    }

    [Fact]
    public void WarmupCosineScheduleRisesThenDecaysToZero()
    {
        var o = new TorchTrainerOptions { LearningRate = 1, Schedule = LearningRateScheduleKind.WarmupCosine, WarmupEpochs = 1 };
        Assert.Equal(0.1, TorchTrainingLoop.LearningRateAt(o, 0, 100, 10), 6);
        Assert.Equal(1.0, TorchTrainingLoop.LearningRateAt(o, 9, 100, 10), 6);
        Assert.Equal(0.5, TorchTrainingLoop.LearningRateAt(o, 55, 100, 10), 6);
        Assert.True(TorchTrainingLoop.LearningRateAt(o, 99, 100, 10) < 0.001);
    }

    [Fact]
    public void MlpRegressorLearnsSmoothFunction()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(800, 1));
        var test = ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(200, 2));
        var model = ml.Regression.Trainers.TorchMlp(new MlpRegressorOptions { HiddenSizes = new[] { 32, 32 }, Epochs = 60, LearningRate = 0.01, Seed = 1, Device = TorchDeviceKind.Cpu }).Fit(train);
        var metrics = ml.Regression.Evaluate(model.Transform(test));
        var linear = ml.Regression.Evaluate(ml.Regression.Trainers.Sdca().Fit(train).Transform(test));
        Assert.True(metrics.RSquared > 0.95, $"R² {metrics.RSquared}");
        Assert.True(metrics.RootMeanSquaredError < 0.3 * linear.RootMeanSquaredError, $"MLP RMSE {metrics.RootMeanSquaredError} vs linear {linear.RootMeanSquaredError}");

        var path = Path.Combine(Path.GetTempPath(), $"mlnx-reg-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var features = SyntheticData.Column(test, "Features");
            var expected = model.Transform(test).GetColumn<float>("Score").ToArray();
            Assert.True(OnnxParity.Compare(path, "Features", SyntheticData.Flatten(features), new[] { 200, 3 }, "Score", expected) <= 1e-5);
        }
        finally { File.Delete(path); }
    }

    public sealed class ScoreOutput
    {
        public float[] Score { get; set; } = Array.Empty<float>();
    }
}

/// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
