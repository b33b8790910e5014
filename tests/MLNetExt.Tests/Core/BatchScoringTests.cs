using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Core;

/// <summary>
/// The batched scoring path of <c>Transform</c> (pooled buffers reused from batch to batch) gives, row for row, the
/// scores a PredictionEngine gives one row at a time, whatever the batch boundaries and however the cursor moves.
/// </summary>
public sealed class BatchScoringTests
{
    private const int BatchSize = 8;

    private sealed class Row2
    {
        [VectorType(2)] public float[] Features { get; set; } = new float[2];
    }

    private sealed class Row3
    {
        [VectorType(3)] public float[] Features { get; set; } = new float[3];
    }

    private sealed class ClassPrediction
    {
        public float[] Score { get; set; } = Array.Empty<float>();
        public uint PredictedLabel { get; set; }
    }

    private sealed class RegressionPrediction
    {
        public float Score { get; set; }
    }

    private static MlpMulticlassTransformer TrainClassifier(MLContext ml)
        => ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions
        {
            HiddenSizes = new[] { 16 }, Epochs = 5, Seed = 3, Device = TorchDeviceKind.Cpu, ScoringBatchSize = BatchSize,
        }).Fit(SyntheticData.RingsView(ml, 120, 1));

    private static IDataView Rows(MLContext ml, int count, int seed)
        => ml.Data.LoadFromEnumerable(SyntheticData.Rings(count, seed).Select(r => new Row2 { Features = r.Features }));

    /// <summary>Every score of every row, read from the view's own cursor.</summary>
    private static List<ClassPrediction> Scored(MLContext ml, ITransformer model, IDataView data)
        => ml.Data.CreateEnumerable<ClassPrediction>(model.Transform(data), reuseRowObject: false).ToList();

    [Theory]
    [InlineData(29)]   // three full batches and a partial one of 5 rows
    [InlineData(16)]   // exactly two batches
    [InlineData(5)]    // a view smaller than one batch
    public void BatchTransformGivesTheSingleRowScoresAcrossBatchBoundaries(int count)
    {
        var ml = new MLContext(seed: 0);
        var model = TrainClassifier(ml);
        var data = Rows(ml, count, 2);
        var features = SyntheticData.Column(data, "Features");
        var batch = Scored(ml, model, data);
        Assert.Equal(count, batch.Count);

        var engine = ml.Model.CreatePredictionEngine<Row2, ClassPrediction>(model);
        for (int i = 0; i < count; i++)
        {
            var single = engine.Predict(new Row2 { Features = features[i] });
            Assert.Equal(single.PredictedLabel, batch[i].PredictedLabel);
            for (int c = 0; c < 3; c++) Assert.Equal(single.Score[c], batch[i].Score[c], 1e-6);
        }

        // The public Score of the whole set in one pass agrees too, and leaves the caller's array as it was.
        var flat = SyntheticData.Flatten(features);
        var copy = (float[])flat.Clone();
        var all = model.Score(flat, count)[0];
        Assert.Equal(copy, flat);
        for (int i = 0; i < count; i++)
            for (int c = 0; c < 3; c++) Assert.Equal(all[i * 3 + c], batch[i].Score[c], 1e-6);
    }

    [Fact]
    public void BatchScoresDoNotDependOnTheIntraOpThreadCount()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainClassifier(ml);
        model.ScoringBatchSize = 64;
        var data = Rows(ml, 150, 4);
        model.BatchScoringThreads = 1;
        var one = Scored(ml, model, data);
        model.BatchScoringThreads = 2;
        var two = Scored(ml, model, data);
        for (int i = 0; i < one.Count; i++)
        {
            Assert.Equal(one[i].PredictedLabel, two[i].PredictedLabel);
            for (int c = 0; c < 3; c++) Assert.Equal(one[i].Score[c], two[i].Score[c], 1e-6);
        }
    }

    [Fact]
    public void RegressionBatchTransformGivesTheSingleRowScoresWithAPartialLastBatch()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(120, 1));
        var model = ml.Regression.Trainers.TorchMlp(new MlpRegressorOptions
        {
            HiddenSizes = new[] { 16 }, Epochs = 5, Seed = 3, Device = TorchDeviceKind.Cpu, ScoringBatchSize = BatchSize,
        }).Fit(train);
        var rows = SyntheticData.SmoothFunction(21, 2).Select(r => new Row3 { Features = r.Features }).ToList();
        var batch = ml.Data.CreateEnumerable<RegressionPrediction>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).ToList();
        var engine = ml.Model.CreatePredictionEngine<Row3, RegressionPrediction>(model);
        Assert.Equal(rows.Count, batch.Count);
        for (int i = 0; i < rows.Count; i++) Assert.Equal(engine.Predict(rows[i]).Score, batch[i].Score, 1e-6);
        Assert.True(batch.Select(b => b.Score).Distinct().Count() > 10, "the regressor gives different scores to different rows");
    }

    [Fact]
    public void ScoresStayWithTheirRowsWhenTheCursorSkipsRowsOrOthersRunAtTheSameTime()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainClassifier(ml);
        var data = Rows(ml, 37, 5);
        var expected = Scored(ml, model, data);
        var scored = model.Transform(data);
        var scoreColumn = scored.Schema["Score"];

        // Rows moved over without reading their scores: the rows read later still get their own scores.
        using (var cursor = scored.GetRowCursor(new[] { scoreColumn }))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(scoreColumn);
            VBuffer<float> score = default;
            int read = 0;
            while (cursor.MoveNext())
            {
                if (cursor.Position % 3 != 2 && cursor.Position < 30) continue;
                getter(ref score);
                Assert.Equal(expected[(int)cursor.Position].Score, score.DenseValues().ToArray());
                read++;
            }
            Assert.Equal(37 - 20, read);
        }

        // ML.NET's row skipping on the scored view: rows 11 to 20 with their own scores.
        var window = ml.Data.CreateEnumerable<ClassPrediction>(ml.Data.TakeRows(ml.Data.SkipRows(scored, 11), 10), reuseRowObject: false).ToList();
        Assert.Equal(10, window.Count);
        for (int i = 0; i < 10; i++) Assert.Equal(expected[11 + i].Score, window[i].Score);

        // Two cursors over the same scored view, moved in turns: each has its own buffers.
        using var first = scored.GetRowCursor(new[] { scoreColumn });
        using var second = scored.GetRowCursor(new[] { scoreColumn });
        var firstScore = first.GetGetter<VBuffer<float>>(scoreColumn);
        var secondScore = second.GetGetter<VBuffer<float>>(scoreColumn);
        VBuffer<float> a = default, b = default;
        for (int i = 0; i < 5; i++) Assert.True(first.MoveNext());
        firstScore(ref a);
        Assert.Equal(expected[4].Score, a.DenseValues().ToArray());
        for (int i = 0; i < 37; i++)
        {
            Assert.True(second.MoveNext());
            secondScore(ref b);
            Assert.Equal(expected[i].Score, b.DenseValues().ToArray());
            Assert.Equal(i + 5 < 37, first.MoveNext());
            if (i + 5 >= 37) continue;
            firstScore(ref a);
            Assert.Equal(expected[i + 5].Score, a.DenseValues().ToArray());
        }
    }

    [Fact]
    public void AFilteredInputIsScoredRowForRow()
    {
        var ml = new MLContext(seed: 0);
        var model = TrainClassifier(ml);
        var rows = SyntheticData.Rings(40, 6).Select(r => new Row2 { Features = r.Features }).ToList();
        // ML.NET's filter drops rows inside the batched cursor's reading: the scores follow the rows that remain.
        var kept = ml.Data.FilterByCustomPredicate<Row2>(ml.Data.LoadFromEnumerable(rows), r => r.Features[0] < 0);
        var scored = Scored(ml, model, kept);
        var remaining = rows.Where(r => r.Features[0] >= 0).ToList();
        Assert.Equal(remaining.Count, scored.Count);
        Assert.InRange(remaining.Count, BatchSize + 1, 39);
        var engine = ml.Model.CreatePredictionEngine<Row2, ClassPrediction>(model);
        for (int i = 0; i < remaining.Count; i++)
        {
            var single = engine.Predict(remaining[i]).Score;
            for (int c = 0; c < 3; c++) Assert.Equal(single[c], scored[i].Score[c], 1e-6);
        }
    }
}
