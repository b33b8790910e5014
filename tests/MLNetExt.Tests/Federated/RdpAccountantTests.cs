
namespace MLNetExt.Tests.Federated;

/// <summary>Reference values from Opacus' tests and docstrings and the TF-Privacy tutorial (spec §4.3).</summary>
public sealed class RdpAccountantTests
{
    [Fact]
    public void OpacusAccountantTestVector_Epsilon()
    {
        var (eps, order) = RdpAccountant.Epsilon(new[] { new SgmPhase(0.04, 1.5, 2250) }, 1e-5);
        Assert.Equal(7.32911117143, eps, 1e-9);
        Assert.Equal(3.9, order, 1e-12);
    }

    [Fact]
    public void HeterogeneousPhasesCompose_OpacusDocstring()
    {
        var orders = Enumerable.Range(2, 31).Select(a => (double)a).ToArray();
        var accountant = new RdpAccountant(orders);
        accountant.Step(1e-5, 1.0, 10);
        accountant.Step(1e-4, 3.0, 4);
        var (eps, order) = accountant.GetEpsilon(1e-5);
        Assert.Equal(0.3363441, eps, 1e-6);
        Assert.Equal(23, order);
    }

    [Theory]
    [InlineData(2250, 1.416015625)]
    [InlineData(2000, 1.356201171875)]
    public void NoiseSearch_MatchesOpacusGetNoiseMultiplier(long steps, double expectedSigma)
        => Assert.Equal(expectedSigma, RdpAccountant.NoiseMultiplierFor(8, 1e-5, 0.04, steps), 1e-12);

    [Fact]
    public void NoiseSearch_ReproducesTheFfaLoraPaperSigma()
        => Assert.Equal(0.989990234375, RdpAccountant.NoiseMultiplierFor(6, 1e-5, 200 / (67349.0 / 3), 10_000), 1e-12);

    [Theory]
    [InlineData(1.12, 14063, 2.92)]
    [InlineData(1.2, 2344, 1.20)]
    public void ClassicConversion_MatchesTheTfPrivacyTutorial(double sigma, long steps, double expected)
    {
        var (eps, _) = RdpAccountant.Epsilon(new[] { new SgmPhase(256 / 60000.0, sigma, steps) }, 1e-5, conversion: RdpConversion.Classic);
        Assert.Equal(expected, eps, 0.005);
        var (balle, _) = RdpAccountant.Epsilon(new[] { new SgmPhase(256 / 60000.0, sigma, steps) }, 1e-5);
        Assert.True(balle <= eps, $"Balle {balle} should not exceed classic {eps}");
    }

    [Fact]
    public void EpsilonIsMonotoneAndFullBatchIsExact()
    {
        double Eps(double q, double sigma, long t) => RdpAccountant.Epsilon(new[] { new SgmPhase(q, sigma, t) }, 1e-5).Epsilon;
        Assert.True(Eps(0.01, 1.0, 1000) > Eps(0.01, 1.5, 1000));
        Assert.True(Eps(0.02, 1.0, 1000) > Eps(0.01, 1.0, 1000));
        Assert.True(Eps(0.01, 1.0, 2000) > Eps(0.01, 1.0, 1000));
        Assert.Equal(3.0 / (2 * 1.3 * 1.3), RdpAccountant.SgmRdp(1, 1.3, 3), 1e-15);
        Assert.Equal(0, RdpAccountant.SgmRdp(0, 1.3, 3));
        // Fractional orders are continuous with their integer neighbours.
        double at3 = RdpAccountant.SgmRdp(0.05, 1.2, 3), near3 = RdpAccountant.SgmRdp(0.05, 1.2, 3.0001);
        Assert.Equal(at3, near3, 1e-4);
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(new[] { new SgmPhase(1.5, 1, 1) }, 1e-5));
        Assert.Contains("sampling rate", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(new[] { new SgmPhase(0.1, 1, 1) }, 0));
        Assert.Contains("δ", e.Message);
    }
}
