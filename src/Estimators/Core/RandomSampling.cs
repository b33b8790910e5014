namespace MLNetExt;

/// <summary>Seeded samplers that <see cref="Random"/> lacks (used for initialisations and data splits).</summary>
public static class RandomSampling
{
    /// <summary>A Gamma(shape, rate) draw (Marsaglia–Tsang; shape &lt; 1 via the boost u^(1/shape)).</summary>
    public static double Gamma(Random random, double shape, double rate)
    {
        if (!(shape > 0) || !(rate > 0)) throw new ArgumentOutOfRangeException(nameof(shape), $"Gamma needs shape > 0 and rate > 0 (got {shape}, {rate}).");
        if (shape < 1) return Gamma(random, shape + 1, rate) * Math.Pow(random.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(random);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = random.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v / rate;
        }
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public static double Normal(Random random)
    {
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A Dirichlet(α, …, α) draw of dimension <paramref name="k"/> (normalised Gamma draws).</summary>
    public static double[] Dirichlet(Random random, int k, double alpha)
    {
        var g = Enumerable.Range(0, k).Select(_ => Gamma(random, alpha, 1)).ToArray();
        double sum = g.Sum();
        return sum > 0 ? g.Select(x => x / sum).ToArray() : Enumerable.Repeat(1.0 / k, k).ToArray();
    }
}
