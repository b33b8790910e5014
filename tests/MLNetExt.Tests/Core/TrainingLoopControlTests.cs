using Microsoft.ML;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Core;

/// <summary>The optional controls of the shared loop (used by graph methods whose examples are whole designs).</summary>
public sealed class TrainingLoopControlTests
{
    // y = 3x − 1 with noise, 12 rows; a linear model trained by SGD.
    private static (Tensor X, Tensor Y) Data()
    {
        var x = torch.linspace(-1, 1, 12).unsqueeze(1);
        return (x, 3 * x - 1 + 0.05f * torch.sin(17 * x));
    }

    private static (TrainingHistory History, float[] Weights) Train(TrainingLoopControl control, int batchSize, Func<double>? validation = null, int epochs = 3)
    {
        var (x, y) = Data();
        var options = new TorchTrainerOptions { Epochs = epochs, BatchSize = batchSize, LearningRate = 0.05, Optimizer = TorchOptimizerKind.Sgd, Seed = 5, Device = TorchDeviceKind.Cpu };
        var loop = new TorchTrainingLoop(new MLContext(), "LoopTest", options);
        var model = nn.Linear(1, 1);
        var history = loop.Run(model, 12, rows => nn.functional.mse_loss(model.call(x.index_select(0, rows)), y.index_select(0, rows)),
            validation, control: control);
        return (history, model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray());
    }

    [Fact]
    public void MicroBatchesAccumulateTheSameGradientAsTheWholeBatch()
    {
        var whole = Train(TrainingLoopControl.Default, batchSize: 6);
        var parts = Train(new TrainingLoopControl { MicroBatchSize = 4 }, batchSize: 6); // parts of 4 and 2 rows, weighted by size
        Assert.Equal(whole.History.Steps, parts.History.Steps);
        for (int i = 0; i < whole.Weights.Length; i++) Assert.Equal(whole.Weights[i], parts.Weights[i], 5);
        for (int e = 0; e < whole.History.TrainLoss.Count; e++) Assert.Equal(whole.History.TrainLoss[e], parts.History.TrainLoss[e], 5);
        var single = Train(new TrainingLoopControl { MicroBatchSize = 1 }, batchSize: 1);
        Assert.NotEqual(whole.Weights, single.Weights); // one step per row is a different run
    }

    [Fact]
    public void ValidationScheduleKeepsTheBestWeightsIncludingThoseBeforeTraining()
    {
        // A validation loss that is best before training: the initial weights must come back.
        int calls = 0;
        var scripted = new[] { 0.1, 0.5, 0.4, 0.3 };
        var (history, weights) = Train(new TrainingLoopControl { ValidateEvery = 2, ValidateBeforeTraining = true, KeepBestWeights = true },
            batchSize: 4, () => scripted[calls++], epochs: 5);
        Assert.Equal(new[] { 0, 2, 4, 5 }, history.ValidationEpochs);
        Assert.Equal(scripted, history.ValidationLoss);
        Assert.Equal(0, history.BestEpoch);
        TorchDevices.Seed(5);
        var initial = nn.Linear(1, 1).parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        Assert.Equal(initial, weights);

        // Patience counted in validations; gradient clipping bounds every step.
        calls = 0;
        var rising = new[] { 1.0, 2.0, 3.0, 4.0, 5.0 };
        var stopped = Train(new TrainingLoopControl { EarlyStoppingPatience = 2, ValidateBeforeTraining = true }, batchSize: 4, () => rising[calls++], epochs: 4).History;
        Assert.True(stopped.StoppedEarly);
        Assert.Equal(new[] { 0, 1, 2 }, stopped.ValidationEpochs);
        var clipped = Train(new TrainingLoopControl { GradientClipNorm = 1e-6 }, batchSize: 12, epochs: 1).Weights;
        var free = Train(TrainingLoopControl.Default, batchSize: 12, epochs: 1).Weights;
        Assert.True(initial.Zip(clipped).Max(p => Math.Abs(p.First - p.Second)) < 1e-6, "a clipped step moves the weights by at most lr × clip");
        Assert.True(initial.Zip(free).Max(p => Math.Abs(p.First - p.Second)) > 1e-3);
    }

    [Fact]
    public void EpochRowsChoosesTheRowsOfEachEpoch()
    {
        var seen = new List<long>();
        var (x, y) = Data();
        var loop = new TorchTrainingLoop(new MLContext(), "LoopTest", new TorchTrainerOptions { Epochs = 2, BatchSize = 1, Seed = 1, Device = TorchDeviceKind.Cpu });
        var model = nn.Linear(1, 1);
        var history = loop.Run(model, 12, rows =>
        {
            seen.Add(rows[0].item<long>());
            return nn.functional.mse_loss(model.call(x.index_select(0, rows)), y.index_select(0, rows));
        }, control: new TrainingLoopControl { EpochRows = rng => new[] { 3, 7 } });
        Assert.Equal(new long[] { 3, 7, 3, 7 }, seen);
        Assert.Equal(4, history.Steps);
    }
}
