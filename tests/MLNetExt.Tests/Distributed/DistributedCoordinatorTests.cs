
namespace MLNetExt.Tests.Distributed;

public class DistributedCoordinatorTests
{
    [Fact]
    public void Co2_TwoInProcessWorkers_LearnAndEndWithIdenticalModels()
    {
        var ranks = TinyRegression.Train(2, DistributedTrainingOptions.Co2(localSteps: 4), steps: 80);

        var initialLoss = TinyRegression.GlobalLoss(Initial(ranks: 2), ranks: 2);
        var finalLoss = TinyRegression.GlobalLoss(ranks[0].Parameters, ranks: 2);
        Assert.True(finalLoss < 0.25f * initialLoss, $"CO2 did not learn: global loss {initialLoss} → {finalLoss}.");
        Assert.Equal(ranks[0].Parameters, ranks[1].Parameters);
        Assert.Equal(20, ranks[0].Metrics.Rounds);
    }

    [Fact]
    public void Tau1_ZeroStaleness_NoPenaltyNoClip_MatchesSynchronousDataParallel()
    {
        // With an SGD inner optimizer, averaging the models after one step equals one step on the averaged
        // gradient: x − γ·mean(gᵢ) = mean(x − γ·gᵢ). (With AdamW the per-rank moment estimates differ, so the
        // two are close but not equal.) Local-SGD is the zero-staleness form of the outer loop.
        var localSgd = DistributedTrainingOptions.LocalSgd(localSteps: 1);
        Assert.Equal(StalenessGapPenalty.None, localSgd.Penalty);
        Assert.Equal(MomentumClipping.None, localSgd.Clipping);

        var outer = TinyRegression.Train(3, localSgd, steps: 12, TinyRegression.Inner.Sgd, learningRate: 0.1);
        var synchronous = TinyRegression.Train(3, DistributedTrainingOptions.SynchronousDataParallel(), steps: 12,
            TinyRegression.Inner.Sgd, learningRate: 0.1);

        AssertClose(synchronous[0].Parameters, outer[0].Parameters, 1e-5f);
        Assert.NotEqual(Initial(ranks: 3), synchronous[0].Parameters); // it did train
        Assert.Equal(synchronous[0].Parameters, synchronous[2].Parameters); // DDP ranks stay identical
    }

    [Theory]
    [InlineData(DistributedAlgorithm.Co2)]
    [InlineData(DistributedAlgorithm.LocalSgd)]
    public void ShardedOuterState_GivesTheSameModelAsUnsharded_WithLessStatePerRank(DistributedAlgorithm algorithm)
    {
        // 3 ranks do not divide the parameter count (6·8+8+8+1 = 65), so the padded last shard is exercised too;
        // the global-norm clip needs the cross-shard sum of squares.
        var options = DistributedTrainingOptions.Co2(localSteps: 3, outerMomentum: 0.5f,
            penalty: StalenessGapPenalty.GapAware(1f, 0.8f), clipping: MomentumClipping.GlobalNorm(0.5f)) with { Algorithm = algorithm };

        var unsharded = TinyRegression.Train(3, options, steps: 18);
        var sharded = TinyRegression.Train(3, options with { ShardOuterState = true }, steps: 18);

        AssertClose(unsharded[0].Parameters, sharded[0].Parameters, 1e-5f);
        Assert.Equal(sharded[0].Parameters, sharded[1].Parameters);
        var full = unsharded[0].Metrics.OuterStateFloatsPerRank;
        Assert.All(sharded, r => Assert.True(r.Metrics.OuterStateFloatsPerRank <= (full + 3 * 4) / 3,
            $"Sharded rank holds {r.Metrics.OuterStateFloatsPerRank} outer-state floats; unsharded holds {full}."));
    }

    [Fact]
    public void GlobalNormClipping_BoundsEveryOuterStep()
    {
        // anchor_{t+1} − anchor_t = −α·m_t, so with ‖m‖ ≤ φ every change of the synchronised model is ≤ α·φ.
        const float phi = 0.01f, alpha = 0.8f;
        var options = DistributedTrainingOptions.Co2(localSteps: 2, alpha, outerMomentum: 0.5f,
            StalenessGapPenalty.None, MomentumClipping.GlobalNorm(phi));
        var results = InProcessGroup.Run(2, backend =>
        {
            var learner = TinyRegression.CreateLearner(backend.Rank, TinyRegression.Inner.AdamW, 0.05);
            using var coordinator = new DistributedCoordinator(backend, learner, options);
            var previous = new float[learner.ParameterCount];
            var current = new float[learner.ParameterCount];
            coordinator.CopySynchronizedParametersTo(previous);
            var largestStep = 0.0;
            for (var step = 0; step < 20; step++)
            {
                coordinator.Step();
                coordinator.CopySynchronizedParametersTo(current);
                largestStep = Math.Max(largestStep, Math.Sqrt(previous.Zip(current, (a, b) => (double)(a - b) * (a - b)).Sum()));
                current.CopyTo(previous, 0);
            }
            return (largestStep, coordinator.Metrics.ClipActivations);
        }, TimeSpan.FromSeconds(30));

        foreach (var (largestStep, clips) in results)
        {
            Assert.True(clips > 0, "The test needs a threshold small enough that clipping acts.");
            Assert.InRange(largestStep, 1e-4, alpha * phi * 1.0001);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CheckpointAndResume_GiveTheSameModelAsAnUninterruptedRun(bool sharded)
    {
        // τ = 4 and a checkpoint after 7 steps: mid-round, with the previous round's average still in flight.
        var options = DistributedTrainingOptions.Co2(localSteps: 4, outerMomentum: 0.3f) with { ShardOuterState = sharded };
        var uninterrupted = TinyRegression.Train(2, options, steps: 14);

        var checkpoints = InProcessGroup.Run(2, backend =>
        {
            var learner = TinyRegression.CreateLearner(backend.Rank, TinyRegression.Inner.AdamW, 0.02);
            using var coordinator = new DistributedCoordinator(backend, learner, options);
            for (var step = 0; step < 7; step++)
                coordinator.Step();
            var stream = new MemoryStream();
            coordinator.SaveCheckpoint(stream);
            return stream.ToArray();
        }, TimeSpan.FromSeconds(30));

        var resumed = InProcessGroup.Run(2, backend =>
        {
            // A fresh model with a different initialisation: everything must come from the checkpoint.
            var learner = TinyRegression.CreateLearner(backend.Rank, TinyRegression.Inner.AdamW, 0.02, initSeed: 999);
            using var coordinator = DistributedCoordinator.Resume(backend, learner, options, new MemoryStream(checkpoints[backend.Rank]));
            Assert.Equal(7, coordinator.StepsCompleted);
            for (var step = 7; step < 14; step++)
                coordinator.Step();
            coordinator.Finish();
            var parameters = new float[learner.ParameterCount];
            learner.CopyParametersTo(parameters);
            return parameters;
        }, TimeSpan.FromSeconds(30));

        AssertClose(uninterrupted[0].Parameters, resumed[0], 1e-6f);
        AssertClose(uninterrupted[1].Parameters, resumed[1], 1e-6f);
    }

    [Fact]
    public void Resume_FromAnotherRanksCheckpoint_IsRejectedWithAClearError()
    {
        var options = DistributedTrainingOptions.LocalSgd(2);
        var checkpoints = InProcessGroup.Run(2, backend =>
        {
            using var coordinator = new DistributedCoordinator(backend, TinyRegression.CreateLearner(backend.Rank, TinyRegression.Inner.Sgd, 0.1), options);
            coordinator.Step();
            var stream = new MemoryStream();
            coordinator.SaveCheckpoint(stream);
            return stream.ToArray();
        }, TimeSpan.FromSeconds(30));

        var error = Assert.Throws<AggregateException>(() => InProcessGroup.Run(2, backend =>
            DistributedCoordinator.Resume(backend, TinyRegression.CreateLearner(backend.Rank, TinyRegression.Inner.Sgd, 0.1), options,
                new MemoryStream(checkpoints[1 - backend.Rank])), TimeSpan.FromSeconds(5)));
        Assert.Contains(error.InnerExceptions, e => e is InvalidDataException && e.Message.Contains("written by rank"));
    }

    [Fact]
    public void Co2_HidesASlowLinkBehindComputeWhileBlockingLocalSgdWaitsForIt()
    {
        // Each inner step "computes" for 15 ms (the CPU idles, as with an accelerator); each collective costs
        // 60 ms on the simulated link; τ = 6 gives 90 ms of compute per round to hide it behind.
        var link = new LinkModel(TimeSpan.FromMilliseconds(60), double.PositiveInfinity);
        DistributedMetrics Measure(DistributedTrainingOptions options) => InProcessGroup.Run(2, backend =>
        {
            using var coordinator = new DistributedCoordinator(backend, new SleepingQuadraticLearner(backend.Rank, 15), options);
            for (var step = 0; step < 36; step++)
                coordinator.Step();
            return coordinator.Metrics;
        }, TimeSpan.FromSeconds(30), transport => new ThrottledTransport(transport, link))[0];

        var co2 = Measure(DistributedTrainingOptions.Co2(localSteps: 6));
        var localSgd = Measure(DistributedTrainingOptions.LocalSgd(localSteps: 6));
        // Sharded, a round sends two collectives (reduce-scatter, all-gather: 120 ms), so τ = 12 (180 ms of compute);
        // with the gather blocking at the boundary it would wait 60 of every 240 ms (0.25).
        var sharded = Measure(DistributedTrainingOptions.Co2(localSteps: 12) with { ShardOuterState = true });

        // Blocking: ≥ 60 of every ~150 ms is waiting (0.4); CO2 should wait for far less (ideally ~0).
        Assert.True(localSgd.BoundaryWaitFraction > 0.25, $"Local-SGD wait fraction {localSgd.BoundaryWaitFraction:0.000}");
        Assert.True(co2.BoundaryWaitFraction < localSgd.BoundaryWaitFraction / 2,
            $"CO2 wait fraction {co2.BoundaryWaitFraction:0.000} vs Local-SGD {localSgd.BoundaryWaitFraction:0.000}");
        Assert.True(sharded.BoundaryWaitFraction < 0.12, $"sharded CO2 wait fraction {sharded.BoundaryWaitFraction:0.000}");
    }

    private static float[] Initial(int ranks)
    {
        _ = ranks;
        var learner = TinyRegression.CreateLearner(0, TinyRegression.Inner.Sgd, 0.1); // rank 0's model is broadcast
        var parameters = new float[learner.ParameterCount];
        learner.CopyParametersTo(parameters);
        return parameters;
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance, $"Largest parameter difference {worst} exceeds {tolerance}.");
    }

    /// <summary>
    /// A learner without TorchSharp: minimises ½‖x − target‖² with SGD and sleeps for each step's "compute".
    /// </summary>
    private sealed class SleepingQuadraticLearner(int rank, int computeMilliseconds) : IInnerLearner
    {
        private readonly float[] _x = new float[64];
        private readonly float[] _gradient = new float[64];

        public int ParameterCount => _x.Length;
        public void CopyParametersTo(Span<float> destination) => _x.CopyTo(destination);
        public void CopyParametersFrom(ReadOnlySpan<float> source) => source[.._x.Length].CopyTo(_x);
        public void CopyGradientsTo(Span<float> destination) => _gradient.CopyTo(destination);
        public void CopyGradientsFrom(ReadOnlySpan<float> source) => source[.._gradient.Length].CopyTo(_gradient);
        public void SaveOptimizerState(BinaryWriter writer) { }
        public void LoadOptimizerState(BinaryReader reader) { }

        public float ComputeGradients(long step)
        {
            Thread.Sleep(computeMilliseconds);
            var loss = 0f;
            for (var i = 0; i < _x.Length; i++)
            {
                _gradient[i] = _x[i] - (rank + 1);
                loss += 0.5f * _gradient[i] * _gradient[i];
            }
            return loss;
        }

        public void ApplyOptimizerStep()
        {
            for (var i = 0; i < _x.Length; i++)
                _x[i] -= 0.1f * _gradient[i];
        }
    }
}
