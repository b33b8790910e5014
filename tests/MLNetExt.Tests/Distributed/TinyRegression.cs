using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Distributed;

/// <summary>
/// A small, fully deterministic TorchSharp problem for distributed tests: a 6→8→1 MLP regressing a fixed linear
/// teacher; each rank sees its own rows. Initial weights come from System.Random (torch's global generator is
/// shared between the in-process worker threads, so it would make runs depend on thread timing).
/// </summary>
internal static class TinyRegression
{
    public const int Features = 6;
    private const int Hidden = 8, Rows = 128, Batch = 16;

    /// <summary>Inner optimizer choice for a test.</summary>
    public enum Inner { Sgd, AdamW }

    public static TorchModuleLearner CreateLearner(int rank, Inner inner, double learningRate, int initSeed = 42)
    {
        var model = nn.Sequential(nn.Linear(Features, Hidden), nn.Tanh(), nn.Linear(Hidden, 1));
        var (x, y) = Shard(rank);
        Tensor Loss(long step)
        {
            var start = (int)(step * Batch % Rows);
            return nn.functional.mse_loss(model.forward(x.narrow(0, start, Batch)), y.narrow(0, start, Batch));
        }
        optim.Optimizer optimizer = inner == Inner.Sgd
            ? optim.SGD(model.parameters(), learningRate)
            : optim.AdamW(model.parameters(), learningRate, weight_decay: 0.01);
        var learner = new TorchModuleLearner(model, optimizer, Loss);
        var random = new Random(initSeed + rank); // ranks differ: the coordinator must broadcast rank 0's model
        learner.CopyParametersFrom(Enumerable.Range(0, learner.ParameterCount).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray());
        return learner;
    }

    /// <summary>Mean squared error of the flat parameters over all ranks' data (the global objective).</summary>
    public static float GlobalLoss(float[] parameters, int ranks) =>
        Enumerable.Range(0, ranks).Average(rank => FullShardLoss(parameters, rank));

    private static float FullShardLoss(float[] parameters, int rank)
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(nn.Linear(Features, Hidden), nn.Tanh(), nn.Linear(Hidden, 1));
        var learner = new TorchModuleLearner(model, optim.SGD(model.parameters(), 0.1), _ => zeros(1));
        learner.CopyParametersFrom(parameters);
        var (x, y) = Shard(rank);
        using var noGrad = no_grad();
        return nn.functional.mse_loss(model.forward(x), y).item<float>();
    }

    private static (Tensor X, Tensor Y) Shard(int rank)
    {
        var teacher = new Random(7);
        var w = Enumerable.Range(0, Features).Select(_ => (float)(teacher.NextDouble() * 2 - 1)).ToArray();
        var random = new Random(1000 + rank);
        var x = new float[Rows * Features];
        var y = new float[Rows];
        for (var r = 0; r < Rows; r++)
        {
            for (var f = 0; f < Features; f++)
            {
                x[r * Features + f] = (float)(random.NextDouble() * 2 - 1);
                y[r] += x[r * Features + f] * w[f];
            }
        }
        return (tensor(x, [Rows, Features]), tensor(y, [Rows, 1]));
    }

    /// <summary>Trains <paramref name="ranks"/> in-process workers for <paramref name="steps"/> steps; returns each rank's final model and its coordinator metrics.</summary>
    public static (float[] Parameters, DistributedMetrics Metrics, float FirstLoss)[] Train(int ranks, DistributedTrainingOptions options,
        int steps, Inner inner = Inner.AdamW, double learningRate = 0.02)
    {
        return InProcessGroup.Run(ranks, backend =>
        {
            var learner = CreateLearner(backend.Rank, inner, learningRate);
            using var coordinator = new DistributedCoordinator(backend, learner, options);
            var first = coordinator.Step();
            for (var s = 1; s < steps; s++)
                coordinator.Step();
            coordinator.Finish();
            var parameters = new float[learner.ParameterCount];
            learner.CopyParametersTo(parameters);
            return (parameters, coordinator.Metrics, first);
        }, TimeSpan.FromSeconds(30));
    }
}
