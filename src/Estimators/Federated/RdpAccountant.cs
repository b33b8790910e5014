namespace MLNetExt;

/// <summary>How Rényi-DP is converted to (ε, δ)-DP.</summary>
public enum RdpConversion
{
    /// <summary>Balle et al. 2020, Thm 21 (Opacus ≥ 1.0, current TF-Privacy): ε = ε_α + ln((α−1)/α) − (ln δ + ln α)/(α−1). Tighter.</summary>
    Balle2020,

    /// <summary>Mironov 2017, Prop. 3 (older TF-Privacy and its tutorial figures): ε = ε_α + ln(1/δ)/(α−1).</summary>
    Classic,
}

/// <summary>A phase of DP-SGD: <see cref="Steps"/> steps of the sampled Gaussian mechanism with rate <see cref="SampleRate"/> and noise <see cref="NoiseMultiplier"/>.</summary>
public readonly record struct SgmPhase(double SampleRate, double NoiseMultiplier, long Steps);

/// <summary>
/// Rényi-DP accountant for the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019), as in Opacus' RDP accountant:
/// per-order RDP of one step (integer and fractional orders), composition over steps and phases, conversion to
/// (ε, δ) minimised over the orders, and the search for the noise multiplier that meets a target ε.
/// </summary>
public sealed class RdpAccountant
{
    /// <summary>Opacus' default orders: 1.1, 1.2, …, 10.9 and 12, 13, …, 63.</summary>
    public static IReadOnlyList<double> DefaultOrders { get; } =
        Enumerable.Range(1, 99).Select(x => 1 + x / 10.0).Concat(Enumerable.Range(12, 52).Select(x => (double)x)).ToArray();

    private readonly List<SgmPhase> _phases = new();

    /// <summary>Creates an accountant over <paramref name="orders"/> (default <see cref="DefaultOrders"/>).</summary>
    public RdpAccountant(IReadOnlyList<double>? orders = null, RdpConversion conversion = RdpConversion.Balle2020)
    {
        Orders = orders ?? DefaultOrders;
        if (Orders.Count == 0 || Orders.Any(a => !(a > 1)))
            throw new ArgumentException("Every RDP order must be > 1.", nameof(orders));
        Conversion = conversion;
    }

    /// <summary>The RDP orders α the bound is minimised over.</summary>
    public IReadOnlyList<double> Orders { get; }
    /// <summary>The RDP → (ε, δ) conversion in use.</summary>
    public RdpConversion Conversion { get; }
    /// <summary>The phases recorded so far.</summary>
    public IReadOnlyList<SgmPhase> Phases => _phases;

    /// <summary>Records <paramref name="steps"/> DP-SGD steps (merged with the previous phase when q and σ are equal).</summary>
    public void Step(double sampleRate, double noiseMultiplier, long steps = 1)
    {
        Validate(sampleRate, noiseMultiplier, steps);
        if (_phases.Count > 0 && _phases[^1].SampleRate == sampleRate && _phases[^1].NoiseMultiplier == noiseMultiplier)
            _phases[^1] = _phases[^1] with { Steps = _phases[^1].Steps + steps };
        else
            _phases.Add(new SgmPhase(sampleRate, noiseMultiplier, steps));
    }

    /// <summary>ε spent so far at <paramref name="delta"/>, and the best order.</summary>
    public (double Epsilon, double Order) GetEpsilon(double delta) => Epsilon(_phases, delta, Orders, Conversion);

    /// <summary>(ε, best order) of the composition of <paramref name="phases"/> at <paramref name="delta"/>.</summary>
    public static (double Epsilon, double Order) Epsilon(IEnumerable<SgmPhase> phases, double delta, IReadOnlyList<double>? orders = null,
        RdpConversion conversion = RdpConversion.Balle2020)
    {
        if (!(delta > 0 && delta < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must be in (0, 1).");
        orders ??= DefaultOrders;
        var list = phases.ToList();
        foreach (var p in list) Validate(p.SampleRate, p.NoiseMultiplier, p.Steps);
        double best = double.PositiveInfinity, bestOrder = double.NaN;
        foreach (var alpha in orders)
        {
            double rdp = 0;
            foreach (var p in list) rdp += p.Steps * SgmRdp(p.SampleRate, p.NoiseMultiplier, alpha);
            double eps = conversion == RdpConversion.Balle2020
                ? rdp + Math.Log((alpha - 1) / alpha) - (Math.Log(delta) + Math.Log(alpha)) / (alpha - 1)
                : rdp - Math.Log(delta) / (alpha - 1);
            if (double.IsNaN(eps)) continue;
            if (eps < best) { best = eps; bestOrder = alpha; }
        }
        return (Math.Max(0, best), bestOrder);
    }

    /// <summary>
    /// The smallest noise multiplier (to within ε tolerance <paramref name="tolerance"/>) that keeps ε ≤ <paramref name="targetEpsilon"/>
    /// after <paramref name="steps"/> steps at rate <paramref name="sampleRate"/> — Opacus' <c>get_noise_multiplier</c> search.
    /// </summary>
    public static double NoiseMultiplierFor(double targetEpsilon, double delta, double sampleRate, long steps,
        IReadOnlyList<double>? orders = null, RdpConversion conversion = RdpConversion.Balle2020, double tolerance = 0.01)
    {
        if (!(targetEpsilon > 0)) throw new ArgumentOutOfRangeException(nameof(targetEpsilon), targetEpsilon, "The target ε must be > 0.");
        Validate(sampleRate, 1, steps);
        double Eps(double sigma) => Epsilon(new[] { new SgmPhase(sampleRate, sigma, steps) }, delta, orders, conversion).Epsilon;
        // Same bracketing as Opacus (σ_high starts at 10 and is doubled before the first evaluation), so results agree to the last bit.
        double low = 0, high = 10, eps = double.PositiveInfinity;
        while (eps > targetEpsilon)
        {
            high *= 2;
            if (high > 1e6) throw new ArgumentException($"No noise multiplier up to 1e6 reaches ε = {targetEpsilon} at δ = {delta}, q = {sampleRate}, {steps} steps.");
            eps = Eps(high);
        }
        while (targetEpsilon - eps > tolerance)
        {
            double mid = (low + high) / 2;
            double e = Eps(mid);
            if (e < targetEpsilon) { high = mid; eps = e; }
            else low = mid;
        }
        return high;
    }

    /// <summary>RDP ε_α of one step of the sampled Gaussian mechanism.</summary>
    public static double SgmRdp(double q, double sigma, double alpha)
    {
        if (q == 0) return 0;
        if (sigma == 0) return double.PositiveInfinity;
        if (q == 1) return alpha / (2 * sigma * sigma);
        if (double.IsPositiveInfinity(alpha)) return double.PositiveInfinity;
        double logA = alpha == Math.Floor(alpha) ? LogAInteger(q, sigma, (int)alpha) : LogAFractional(q, sigma, alpha);
        return logA / (alpha - 1);
    }

    private static double LogAInteger(double q, double sigma, int alpha)
    {
        double logA = double.NegativeInfinity;
        for (int k = 0; k <= alpha; k++)
        {
            double term = LogBinomial(alpha, k) + k * Math.Log(q) + (alpha - k) * Math.Log(1 - q) + (k * k - k) / (2 * sigma * sigma);
            logA = LogAdd(logA, term);
        }
        return logA;
    }

    private static double LogAFractional(double q, double sigma, double alpha)
    {
        // Two series with generalised binomials; terms can be negative, so positive and negative parts are summed separately in log space.
        double log0 = double.NegativeInfinity, log1 = double.NegativeInfinity;
        double z0 = sigma * sigma * Math.Log(1 / q - 1) + 0.5;
        double sqrt2Sigma = Math.Sqrt(2) * sigma;
        double pos0 = double.NegativeInfinity, neg0 = double.NegativeInfinity, pos1 = double.NegativeInfinity, neg1 = double.NegativeInfinity;
        for (int i = 0; ; i++)
        {
            var (logCoef, sign) = LogGeneralisedBinomial(alpha, i);
            double j = alpha - i;
            double t0 = logCoef + i * Math.Log(q) + j * Math.Log(1 - q);
            double t1 = logCoef + j * Math.Log(q) + i * Math.Log(1 - q);
            double e0 = Math.Log(0.5) + LogErfc((i - z0) / sqrt2Sigma);
            double e1 = Math.Log(0.5) + LogErfc((z0 - j) / sqrt2Sigma);
            double s0 = t0 + (i * i - i) / (2 * sigma * sigma) + e0;
            double s1 = t1 + (j * j - j) / (2 * sigma * sigma) + e1;
            if (sign > 0) { pos0 = LogAdd(pos0, s0); pos1 = LogAdd(pos1, s1); }
            else { neg0 = LogAdd(neg0, s0); neg1 = LogAdd(neg1, s1); }
            if (Math.Max(s0, s1) < -30 || i > 100_000) break;
        }
        log0 = LogSub(pos0, neg0);
        log1 = LogSub(pos1, neg1);
        return LogAdd(log0, log1);
    }

    // ln |C(α, i)| and its sign for real α (generalised binomial coefficient).
    private static (double Log, int Sign) LogGeneralisedBinomial(double alpha, int i)
    {
        double log = 0;
        int sign = 1;
        for (int k = 0; k < i; k++)
        {
            double factor = (alpha - k) / (k + 1);
            if (factor < 0) sign = -sign;
            log += Math.Log(Math.Abs(factor));
        }
        return (log, sign);
    }

    private static double LogBinomial(int n, int k) => LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k);

    private static double LogFactorial(int n)
    {
        double s = 0;
        for (int i = 2; i <= n; i++) s += Math.Log(i);
        return s;
    }

    private static double LogAdd(double a, double b)
    {
        if (double.IsNegativeInfinity(a)) return b;
        if (double.IsNegativeInfinity(b)) return a;
        double m = Math.Max(a, b);
        return m + Math.Log(Math.Exp(a - m) + Math.Exp(b - m));
    }

    private static double LogSub(double a, double b)
    {
        if (double.IsNegativeInfinity(b)) return a;
        if (b > a) throw new ArithmeticException("RDP series: negative total (numerical failure).");
        if (a == b) return double.NegativeInfinity;
        return a + Math.Log(1 - Math.Exp(b - a));
    }

    /// <summary>ln erfc(x), accurate in both tails (.NET has no erfc).</summary>
    internal static double LogErfc(double x)
    {
        if (x < 0.5)
        {
            // erfc(x) = 1 − erf(x) is well conditioned here (≥ 0.479); erf by its Taylor series, or via erfc(−x) = 2 − erfc(x) for x &lt; −0.5.
            if (x < -0.5) return Math.Log(2 - Math.Exp(LogErfc(-x)));
            return Math.Log(1 - Erf(x));
        }
        // Continued fraction (Lentz) for erfc(x)·e^{x²}·√π: 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))).
        double tiny = 1e-300, f = x, c = x, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double an = n / 2.0;
            d = x + an * d;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = x + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return -x * x - 0.5 * Math.Log(Math.PI) - Math.Log(f);
    }

    private static double Erf(double x)
    {
        // Maclaurin series: erf(x) = 2/√π Σ (−1)^n x^{2n+1} / (n! (2n+1)); converges fast for |x| ≤ 0.5.
        double sum = 0, term = x;
        for (int n = 0; n < 60; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
            if (Math.Abs(term) < 1e-18) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static void Validate(double q, double sigma, long steps)
    {
        if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException("sampleRate", q, "The sampling rate q must be in [0, 1].");
        if (!(sigma >= 0)) throw new ArgumentOutOfRangeException("noiseMultiplier", sigma, "The noise multiplier σ must be ≥ 0.");
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "Steps must be ≥ 0.");
    }
}
