
namespace MLNetExt.Tests.Federated;

public sealed class AggregationTests
{
    private static ClientUpdate U(string id, long samples, params float[] delta) => new(id, delta, samples);

    [Fact]
    public void FedAvgWeightsBySamples_MeanOfDeltasDoesNot_ServerLearningRateScales()
    {
        var global = new float[] { 1, 1 };
        var updates = new[] { U("a", 1, 1, 0), U("b", 3, 5, 4) };
        var fedAvg = FederatedAggregator.Aggregate(global, updates, AggregationOptions.Undefended);
        Assert.Equal(new float[] { 1 + 4f, 1 + 3f }, fedAvg.Global);
        var mean = FederatedAggregator.Aggregate(global, updates, AggregationOptions.Undefended with { Rule = AggregationRule.MeanOfDeltas, ServerLearningRate = 0.5f });
        Assert.Equal(new float[] { 1 + 0.5f * 3, 1 + 0.5f * 2 }, mean.Global);
    }

    [Theory]
    [InlineData(AggregationRule.FedAvg)]
    [InlineData(AggregationRule.MeanOfDeltas)]
    [InlineData(AggregationRule.CoordinateMedian)]
    [InlineData(AggregationRule.TrimmedMean)]
    [InlineData(AggregationRule.Krum)]
    public void IdenticalHonestUpdates_AreReturnedByEveryRule(AggregationRule rule)
    {
        var updates = Enumerable.Range(0, 5).Select(i => U($"c{i}", 10 + i, 0.5f, -2f, 3f)).ToList();
        var result = FederatedAggregator.Aggregate(new float[3], updates, new AggregationOptions { Rule = rule });
        Assert.Equal(new[] { 0.5f, -2f, 3f }, result.Global);
    }

    [Fact]
    public void RobustRules_IgnoreOneFarOutlier_WhileTheMeanIsDraggedAway()
    {
        var honest = new[] { U("a", 1, 1.0f, 1.0f), U("b", 1, 1.1f, 0.9f), U("c", 1, 0.9f, 1.1f), U("d", 1, 1.05f, 0.95f), U("e", 1, 0.95f, 1.05f) };
        var updates = honest.Append(U("evil", 1, 100f, -100f)).ToList();
        var mean = FederatedAggregator.Combine(updates, 2, new AggregationOptions { Rule = AggregationRule.MeanOfDeltas });
        Assert.True(mean[0] > 10);
        var median = FederatedAggregator.Combine(updates, 2, new AggregationOptions { Rule = AggregationRule.CoordinateMedian });
        Assert.InRange(median[0], 0.9f, 1.1f);
        var trimmed = FederatedAggregator.Combine(updates, 2, new AggregationOptions { Rule = AggregationRule.TrimmedMean, TrimFraction = 0.2 });
        Assert.InRange(trimmed[0], 0.9f, 1.1f);
        var krum = FederatedAggregator.KrumSelect(updates, byzantine: 1, selected: 3);
        Assert.DoesNotContain(krum, u => u.ClientId == "evil");
        // Order of clients does not matter for median / trimmed mean.
        var reversed = Enumerable.Reverse(updates).ToList();
        Assert.Equal(median, FederatedAggregator.Combine(reversed, 2, new AggregationOptions { Rule = AggregationRule.CoordinateMedian }));
        Assert.Equal(mean, FederatedAggregator.Combine(updates, 2, new AggregationOptions { Rule = AggregationRule.TrimmedMean, TrimFraction = 0 }), new ToleranceComparer(1e-5f));
    }

    [Fact]
    public void InvalidUpdatesAreRejectedWithTheReason_AndTheRoundCompletesWithTheRest()
    {
        var updates = new[]
        {
            U("good", 5, 1f, 1f), U("nan", 5, float.NaN, 0f), U("short", 5, 1f), U("huge", 5, 1000f, 0f), U("empty", 0, 1f, 1f),
        };
        var result = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions { MaxUpdateNorm = 10 });
        Assert.Equal(new[] { "good" }, result.Accepted);
        Assert.Equal(new float[] { 1f, 1f }, result.Global);
        string Reason(string id) => result.Rejected.Single(r => r.ClientId == id).Reason;
        Assert.Contains("not finite", Reason("nan"));
        Assert.Contains("1 parameters but the model has 2", Reason("short"));
        Assert.Contains("exceeds the bound", Reason("huge"));
        Assert.Contains("sample count", Reason("empty"));

        var tooFew = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions { MinimumUpdates = 2, MaxUpdateNorm = 10 });
        Assert.Equal(new float[2], tooFew.Global); // fewer than the minimum: the global model is kept
    }

    [Fact]
    public void DirichletSplit_GivesEveryRowToExactlyOneClient_AndSkewsLabels()
    {
        var labels = Enumerable.Range(0, 1000).Select(i => (long)(i % 10)).ToArray();
        var iid = ClientSplit.Iid.Partition(labels, 5, seed: 1);
        var skewed = ClientSplit.NonIid(0.1).Partition(labels, 5, seed: 1);
        foreach (var split in new[] { iid, skewed })
        {
            Assert.Equal(Enumerable.Range(0, 1000), split.SelectMany(s => s).OrderBy(i => i));
            Assert.All(split, s => Assert.NotEmpty(s));
        }
        int DistinctMajor(int[][] split) => split.Count(s => s.GroupBy(i => labels[i]).Max(g => g.Count()) > 0.5 * s.Length);
        Assert.Equal(0, DistinctMajor(iid));
        Assert.True(DistinctMajor(skewed) >= 2, "with α = 0.1 most clients should be dominated by one class");
    }

    [Fact]
    public void AHugeSampleCountWithADeltaOfMinus50_IsBoundedByDefault_AndSetsTheGlobalWhenUndefended()
    {
        var updates = new[] { U("evil", 2_300_000_000_000_000_000, -50f, -50f), U("b", 100, 1f, 1f), U("c", 100, 1f, 1f) };
        var undefended = FederatedAggregator.Aggregate(new float[2], updates, AggregationOptions.Undefended);
        Assert.All(undefended.Global, v => Assert.Equal(-50f, v, 1e-3f)); // the attack as it was: the attacker sets the global
        // Defaults: the update points away from the round's median update, so it is left out.
        var defended = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions());
        Assert.All(defended.Global, v => Assert.Equal(1f, v));
        Assert.Contains(defended.Rejected, r => r.ClientId == "evil" && r.Reason.Contains("cosine -1.000"));
        Assert.Equal(new[] { "b", "c" }, defended.Accepted);
        // Without the direction check the bounds still hold it: weight capped at the median count (100), delta scaled to the
        // median norm (√2): (1 + 1 − 1) / 3.
        var bounded = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions { MinimumCosineToMedian = double.NegativeInfinity });
        Assert.All(bounded.Global, v => Assert.Equal(1f / 3, v, 1e-6f));
        Assert.Equal(new[] { "evil" }, bounded.Clipped);
        Assert.True(bounded.Applied);
    }

    [Fact]
    public void ADeltaOf3e38PerParameter_IsScaledToTheMedianNorm_WhileUndefendedItDominates()
    {
        var updates = new[] { U("evil", 100, 3e38f, 3e38f), U("b", 100, 1f, 1f) };
        var undefended = FederatedAggregator.Aggregate(new float[2], updates, AggregationOptions.Undefended);
        Assert.All(undefended.Global, v => Assert.Equal(1.5e38f, v, 1e33f));
        var defended = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions());
        // Two updates: the bound is the mean of their norms, ≈ 1.5e38·√2 — a 2-client round cannot tell who is honest;
        // with a third honest client the median is honest and the attacker's pull is at most one honest update's norm.
        var three = updates.Append(U("c", 100, 1f, 1f)).ToList();
        var bounded = FederatedAggregator.Aggregate(new float[2], three, new AggregationOptions());
        Assert.All(bounded.Global, v => Assert.Equal(1f, v, 1e-5f));
        Assert.True(FederatedAggregator.Norm(defended.Global) <= FederatedAggregator.Norm(undefended.Global));
    }

    [Fact]
    public void ASignFlippedUpdateAmongNoisyHonestOnes_IsLeftOut_AndNoHonestOneIs()
    {
        // Five clients whose updates are mostly their own noise around a small shared direction (as after local SGD);
        // one sends its update negated. Against the median of all five it would partly agree with itself.
        var random = new Random(3);
        const int n = 2000;
        var common = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5) * 0.4f).ToArray();
        ClientUpdate Noisy(string id, float sign) => U(id, 100, Enumerable.Range(0, n).Select(k => sign * (common[k] + (float)(random.NextDouble() - 0.5) * 2f)).ToArray());
        var updates = new[] { Noisy("a", 1), Noisy("b", 1), Noisy("c", 1), Noisy("d", 1), Noisy("flipped", -1) };
        var result = FederatedAggregator.Aggregate(new float[n], updates, new AggregationOptions());
        Assert.Equal(new[] { "a", "b", "c", "d" }, result.Accepted);
        Assert.Single(result.Rejected, r => r.ClientId == "flipped" && r.Reason.Contains("cosine -"));
        Assert.Equal(updates.Select(u => u.ClientId), FederatedAggregator.Aggregate(new float[n], updates, AggregationOptions.Undefended).Accepted);
    }

    [Fact]
    public void TheBoundsLeaveRoundsOfSimilarHonestUpdatesAlmostUnchanged_AndRejectNonsenseSettings()
    {
        var updates = new[] { U("a", 90, 1.0f, 0f), U("b", 100, 0.9f, 0.1f), U("c", 110, 1.1f, -0.1f) };
        var plain = FederatedAggregator.Aggregate(new float[2], updates, AggregationOptions.Undefended).Global;
        var bounded = FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions()).Global;
        Assert.InRange(Math.Abs(plain[0] - bounded[0]), 0, 0.05);
        Assert.InRange(Math.Abs(plain[1] - bounded[1]), 0, 0.05);
        Assert.Throws<ArgumentOutOfRangeException>(() => FederatedAggregator.Aggregate(new float[2], updates, new AggregationOptions { NormBoundMultiple = 0 }));
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(float v) => 0;
    }
}
