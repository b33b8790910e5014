
namespace MLNetExt.Tests.Distributed;

public class OuterUpdateRuleTests
{
    [Fact]
    public void ConstantPenalty_DividesThePseudoGradientByLambda()
    {
        float[] delta = [2f, -4f, 1f];
        long rounds = 0;
        StalenessGapPenalty.Constant(4f).Apply(delta, [9f, 9f, 9f], [], ref rounds);
        Assert.Equal([0.5f, -1f, 0.25f], delta);
    }

    [Fact]
    public void GapAwarePenalty_MatchesHandComputedDivisors()
    {
        // λ = 1, ρ = 0.5. Divisor = 1 + λ·|gap| / ĝ, ĝ = bias-corrected running mean of |gap|.
        var penalty = StalenessGapPenalty.GapAware(lambda: 1f, averageDecay: 0.5f);
        var average = new float[3];
        long rounds = 0;

        // Round without any gap (the first stale round): no penalty and no change to the running average.
        float[] delta0 = [1f, 1f, 1f];
        penalty.Apply(delta0, [0f, 0f, 0f], average, ref rounds);
        Assert.Equal([1f, 1f, 1f], delta0);
        Assert.Equal(0, rounds);

        // Round 1, gap [0.5, 0, −2]: average = 0.5·|gap| = [0.25, 0, 1]; bias correction 1/(1−0.5) = 2 → ĝ = |gap|.
        // Divisors: [1 + 0.5/0.5, 1 + 0/ε, 1 + 2/2] = [2, 1, 2].
        float[] delta1 = [1f, 1f, 1f];
        penalty.Apply(delta1, [0.5f, 0f, -2f], average, ref rounds);
        Assert.Equal([0.5f, 1f, 0.5f], delta1);

        // Round 2, gap [1, 0, −2]: average = [0.5·0.25 + 0.5·1, 0, 0.5·1 + 0.5·2] = [0.625, 0, 1.5];
        // bias correction 1/(1−0.25) = 4/3 → ĝ = [0.8333, 0, 2]; divisors [1 + 1/0.8333, 1, 1 + 2/2] = [2.2, 1, 2].
        float[] delta2 = [2.2f, 3f, 4f];
        penalty.Apply(delta2, [1f, 0f, -2f], average, ref rounds);
        Assert.Equal(1f, delta2[0], 5);
        Assert.Equal(3f, delta2[1], 5);
        Assert.Equal(2f, delta2[2], 5);
        Assert.Equal(2.2f, StalenessGapPenalty.GapAwareDivisor(1f, 0.625f * 4f / 3f, 1f), 5);
    }

    [Fact]
    public void ElementWiseClipping_ClampsEachElementToThreshold()
    {
        float[] momentum = [3f, -0.5f, -2f];
        Assert.True(MomentumClipping.ElementWise(1f).Apply(momentum, partial => partial));
        Assert.Equal([1f, -0.5f, -1f], momentum);
        Assert.False(MomentumClipping.ElementWise(1f).Apply(momentum, partial => partial));

        // The largest-magnitude element negative (a bug once: the signed maximum magnitude was compared with φ).
        float[] negative = [0.5f, -3f];
        Assert.True(MomentumClipping.ElementWise(1f).Apply(negative, partial => partial));
        Assert.Equal([0.5f, -1f], negative);
    }

    [Fact]
    public void GlobalNormClipping_RescalesToThresholdUsingTheNormOverAllShards()
    {
        // Shard [3] of a momentum whose other shard is [4]: global norm 5 → scaled by 0.5/5.
        float[] shard = [3f];
        Assert.True(MomentumClipping.GlobalNorm(0.5f).Apply(shard, partial => partial + 16f));
        Assert.Equal(0.3f, shard[0], 6);

        float[] small = [0.1f, 0.2f];
        Assert.False(MomentumClipping.GlobalNorm(0.5f).Apply(small, partial => partial));
        Assert.Equal([0.1f, 0.2f], small);
    }

    [Fact]
    public void InvalidOptions_AreRejectedWithTheOffendingValue()
    {
        var tau = Assert.Throws<ArgumentOutOfRangeException>(() => (DistributedTrainingOptions.Co2(0)).Validate());
        Assert.Contains("τ", tau.Message);
        var momentum = Assert.Throws<ArgumentOutOfRangeException>(() => (DistributedTrainingOptions.SlowMo(4, outerMomentum: 1f)).Validate());
        Assert.Contains("[0, 1)", momentum.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => (DistributedTrainingOptions.Co2(4, clipping: MomentumClipping.GlobalNorm(0f))).Validate());
        Assert.Throws<ArgumentException>(() => (DistributedTrainingOptions.SynchronousDataParallel() with { ShardOuterState = true }).Validate());
    }
}

public class OuterOptimizerFusionTests
{
    public static TheoryData<string> Rules => new() { "gap-aware+elementwise", "constant+none", "none+elementwise", "gap-aware+none" };

    [Theory]
    [MemberData(nameof(Rules))]
    public void FusedOuterStep_GivesBitwiseTheRuleByRuleResult_OverSeveralRounds(string rules)
    {
        var options = new DistributedTrainingOptions
        {
            OuterMomentum = 0.5f,
            OuterLearningRate = 0.8f,
            Penalty = rules.StartsWith("gap-aware") ? StalenessGapPenalty.GapAware(1f) : rules.StartsWith("constant") ? StalenessGapPenalty.Constant(2f) : StalenessGapPenalty.None,
            // φ small enough that clipping really engages on these numbers.
            Clipping = rules.EndsWith("elementwise") ? MomentumClipping.ElementWise(0.3f) : MomentumClipping.None,
        };
        const int length = 103; // not a multiple of the SIMD width: the scalar tail is exercised too
        var random = new Random(7);
        var start = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble()).ToArray();
        using var fused = new OuterOptimizer(options, 0, length, x => x);
        using var stepwise = new OuterOptimizer(options, 0, length, x => x) { UseStepwiseUpdate = true };
        fused.Initialize(start);
        stepwise.Initialize(start);
        for (var round = 0; round < 5; round++)
        {
            var average = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 0.5)).ToArray();
            fused.Apply(average.ToArray());
            stepwise.Apply(average.ToArray());
            Assert.Equal(stepwise.Anchor.Span.ToArray(), fused.Anchor.Span.ToArray());
            Assert.Equal(stepwise.Momentum.ToArray(), fused.Momentum.ToArray());
            Assert.Equal(stepwise.ClipActivations, fused.ClipActivations);
        }
        Assert.NotEqual(start, fused.Anchor.Span.ToArray());
        if (rules.EndsWith("elementwise"))
            Assert.True(fused.ClipActivations > 0, "the test should make clipping engage");
    }
}
