using Microsoft.ML;
using MLNetExt.Tests.Core;

namespace MLNetExt.Tests.Distributed;

public sealed class Co2TrainerTests
{
    private static MlpClassifierOptions Mlp(int epochs = 6, IProgress<TrainingProgress>? progress = null) => new()
    {
        HiddenSizes = new[] { 32 },
        Epochs = epochs,
        BatchSize = 16,
        LearningRate = 1e-2,
        Seed = 3,
        Progress = progress,
    };

    [Fact]
    public void Co2WithTwoInProcessWorkers_LearnsTheRingsAndGivesAnOrdinaryMlNetModel()
    {
        var ml = new MLContext(seed: 1);
        var train = SyntheticData.RingsView(ml, 600, seed: 4);
        var progress = new List<TrainingProgress>();
        var trainer = ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(progress: new Progress(progress.Add))),
            new Co2TrainerOptions { Workers = 2, Algorithm = DistributedTrainingOptions.Co2(localSteps: 4) });

        var model = trainer.Fit(train);

        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(train)).MicroAccuracy;
        Assert.True(accuracy > 0.8, $"training accuracy {accuracy:P1} (a linear model stays near 50 %)");
        var run = trainer.LastRun!;
        Assert.Equal(2, run.Ranks.Count);
        Assert.True(run.History.TrainLoss[^1] < run.History.TrainLoss[0] - 0.2, $"loss {run.History.TrainLoss[0]:F3} → {run.History.TrainLoss[^1]:F3}");
        // 600 rows → 300 per worker → 19 steps of 16 per epoch, 6 epochs; a round is τ = 4 steps.
        Assert.All(run.Ranks, r => Assert.Equal(6 * 19, r.Steps));
        Assert.All(run.Ranks, r => Assert.Equal(6 * 19 / 4 + 1, r.Rounds)); // + the partial round closed by Finish
        Assert.Contains(progress, p => p.Epoch == 6);
        Assert.True(run.LossCurve.Count >= 28);

        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var reloaded = ml.Model.Load(stream, out _);
        Assert.Equal(SyntheticData.Column(model.Transform(train), "Score").SelectMany(v => v),
            SyntheticData.Column(reloaded.Transform(train), "Score").SelectMany(v => v));
    }

    [Fact]
    public void ShardedOuterState_TrainsTheSameModelWithHalfTheStatePerWorker()
    {
        var ml = new MLContext(seed: 1);
        var train = SyntheticData.RingsView(ml, 300, seed: 5);
        Co2Trainer<MlpMulticlassTransformer> Trainer(bool shard) => ml.Distributed().Co2(
            ml.MulticlassClassification.Trainers.TorchMlp(Mlp(epochs: 2)),
            new Co2TrainerOptions { Workers = 2, Algorithm = DistributedTrainingOptions.Co2(localSteps: 3) with { ShardOuterState = shard } });

        var plain = Trainer(false);
        var sharded = Trainer(true);
        var a = SyntheticData.Column(plain.Fit(train).Transform(train), "Score").SelectMany(v => v).ToArray();
        var b = SyntheticData.Column(sharded.Fit(train).Transform(train), "Score").SelectMany(v => v).ToArray();

        Assert.True(MaxAbsDifference(a, b) < 1e-4, $"sharded and unsharded scores differ by {MaxAbsDifference(a, b)}");
        long full = plain.LastRun!.Ranks[0].OuterStateFloatsPerRank, shard = sharded.LastRun!.Ranks[0].OuterStateFloatsPerRank;
        Assert.True(shard * 2 <= full + 8, $"sharded outer state {shard} floats vs unsharded {full}");
    }

    [Fact]
    public void CancelledRunResumesFromItsCheckpointsToTheSameModelAsAnUninterruptedRun()
    {
        var ml = new MLContext(seed: 1);
        var train = SyntheticData.RingsView(ml, 256, seed: 6);
        var dir = Path.Combine(Path.GetTempPath(), "co2-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            float[] Scores(ITransformer model) => SyntheticData.Column(model.Transform(train), "Score").SelectMany(v => v).ToArray();
            Co2TrainerOptions Distributed(bool resume, int workers = 2) => new()
            {
                Workers = workers, Algorithm = DistributedTrainingOptions.Co2(localSteps: 4), CheckpointDirectory = dir, CheckpointEverySteps = 8, Resume = resume,
            };
            var uninterrupted = Scores(ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(epochs: 4)),
                new Co2TrainerOptions { Workers = 2, Algorithm = DistributedTrainingOptions.Co2(localSteps: 4) }).Fit(train));

            // Cancel during epoch 3 (8 steps per epoch). CO2 lets a rank run up to two rounds ahead of a slower one, so the
            // rank that decides a round start may not have seen the cancel yet: the run stops at step 20 or 24 and the last
            // checkpoint committed is step 16 or 24.
            using var cancel = new CancellationTokenSource();
            var first = Mlp(epochs: 4, new Progress(p => { if (p.Step >= 18) cancel.Cancel(); }));
            first.ProgressEverySteps = 1;
            first.CancellationToken = cancel.Token;
            var error = Assert.ThrowsAny<Exception>(() => ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(first), Distributed(false)).Fit(train));
            Assert.Contains("cancelled", error.ToString());
            // One step is committed on both ranks; older files went once every manifest named it.
            var committed = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "co2-rank0-of2.json"))).RootElement.GetProperty("Step").GetInt64();
            Assert.Contains(committed, new long[] { 16, 24 });
            Assert.Equal(
                ["co2-rank0-of2.json", "co2-rank1-of2.json", $"co2-step{committed:D10}-rank0-of2.ckpt", $"co2-step{committed:D10}-rank1-of2.ckpt"],
                Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());

            ITransformer Resume(int workers = 2) =>
                ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(epochs: 4)), Distributed(true, workers)).Fit(train);

            // Another number of ranks: refused, naming the checkpoint's.
            error = Assert.ThrowsAny<Exception>(() => Resume(workers: 4));
            Assert.Contains("a run with 2 ranks, and this run has 4", error.ToString());

            // A damaged state file: refused, naming the file, on the rank that has it; the peer fails at once, not at the timeout.
            var state = Path.Combine(dir, $"co2-step{committed:D10}-rank1-of2.ckpt");
            var original = File.ReadAllBytes(state);
            var damaged = (byte[])original.Clone();
            damaged[^5] ^= 0x40;
            File.WriteAllBytes(state, damaged);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            error = Assert.ThrowsAny<Exception>(() => Resume());
            Assert.Contains(Path.GetFileName(state), error.ToString());
            Assert.Contains("does not match its manifest", error.ToString());
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the healthy rank waited {clock.Elapsed} for the failed one");
            File.WriteAllBytes(state, original);

            // A crash after both ranks wrote the step but before rank 1 recorded it: rank 0's manifest commits it for both.
            File.Delete(Path.Combine(dir, "co2-rank1-of2.json"));
            var resumed = ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(epochs: 4)), Distributed(true));
            var scores = Scores(resumed.Fit(train));
            Assert.Equal(32, resumed.LastRun!.Ranks[0].Steps);
            Assert.True(MaxAbsDifference(uninterrupted, scores) < 1e-5, $"resumed run differs by {MaxAbsDifference(uninterrupted, scores)}");
            Assert.True(File.Exists(Path.Combine(dir, "co2-step0000000032-rank1-of2.ckpt")));
            Assert.False(File.Exists(state));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadSettingsAreRejectedNamingTheSetting()
    {
        var ml = new MLContext(seed: 1);
        var train = SyntheticData.RingsView(ml, 40, seed: 6);
        var mlp = ml.MulticlassClassification.Trainers.TorchMlp(Mlp());
        var e = Assert.ThrowsAny<ArgumentException>(() => ml.Distributed().Co2(mlp, new Co2TrainerOptions { Workers = 0 }).Fit(train));
        Assert.Contains("Workers", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => ml.Distributed().Co2(mlp, new Co2TrainerOptions { Resume = true }).Fit(train));
        Assert.Contains("CheckpointDirectory", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => ml.Distributed().Co2(mlp,
            new Co2TrainerOptions { Algorithm = DistributedTrainingOptions.Co2(localSteps: 0) }).Fit(train));
        Assert.Contains("LocalSteps", e.Message);
    }

    private static double MaxAbsDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
