namespace MLNetExt;

/// <summary>Which staleness gap penalty CO2 applies to the one-round-stale pseudo-gradient.</summary>
public enum StalenessPenaltyKind
{
    /// <summary>No penalty: the stale pseudo-gradient enters the outer momentum unchanged.</summary>
    None,

    /// <summary>Divide by a constant λ, as the official CO2 code does (<c>co2_gap_penalty</c>).</summary>
    Constant,

    /// <summary>
    /// Divide elementwise by 1 + λ·|gap| / ḡ, where gap is how far the anchor moved since the stale update's basis
    /// and ḡ a running average of |gap| (Gap-Aware style; the paper's exact Λ_t was not available, see docs/decisions/001-co2-gap-aware-penalty.md).
    /// </summary>
    GapAware,
}

/// <summary>
/// The staleness gap penalty P(·) of CO2: it scales down a pseudo-gradient that was computed from an older anchor
/// than the one it is applied to.
/// </summary>
/// <param name="Kind">Which rule.</param>
/// <param name="Strength">λ: the constant divisor (<see cref="StalenessPenaltyKind.Constant"/>) or the gap weight (<see cref="StalenessPenaltyKind.GapAware"/>).</param>
/// <param name="AverageDecay">ρ of the running average ḡ of |gap| (<see cref="StalenessPenaltyKind.GapAware"/> only).</param>
public sealed record StalenessGapPenalty(StalenessPenaltyKind Kind, float Strength = 1f, float AverageDecay = 0.9f)
{
    // Keeps the divisor finite where an element has never moved (ḡ = 0); such elements get divisor 1.
    internal const float DivisorEpsilon = 1e-12f;

    /// <summary>No penalty.</summary>
    public static StalenessGapPenalty None { get; } = new(StalenessPenaltyKind.None);

    /// <summary>Constant divisor λ (the official code's rule, default λ = 1 there).</summary>
    public static StalenessGapPenalty Constant(float lambda) => new(StalenessPenaltyKind.Constant, lambda);

    /// <summary>Elementwise gap-aware divisor 1 + λ·|gap|/ḡ with running-average decay ρ.</summary>
    public static StalenessGapPenalty GapAware(float lambda = 1f, float averageDecay = 0.9f) =>
        new(StalenessPenaltyKind.GapAware, lambda, averageDecay);

    /// <summary>
    /// The gap-aware divisor for one element: 1 + λ·|gap| / (ḡ + ε), where ḡ is the bias-corrected running average
    /// of |gap| that already includes this round's gap.
    /// </summary>
    public static float GapAwareDivisor(float gap, float averageAbsoluteGap, float lambda) =>
        1f + lambda * MathF.Abs(gap) / (averageAbsoluteGap + DivisorEpsilon);

    internal void Validate()
    {
        if (Kind == StalenessPenaltyKind.Constant && !(Strength > 0))
            throw new ArgumentOutOfRangeException(nameof(Strength), $"A constant staleness penalty needs λ > 0 (got {Strength}).");
        if (Kind == StalenessPenaltyKind.GapAware && (!(Strength >= 0) || !(AverageDecay >= 0 && AverageDecay < 1)))
            throw new ArgumentOutOfRangeException(nameof(Strength), $"A gap-aware penalty needs λ ≥ 0 and 0 ≤ ρ < 1 (got λ = {Strength}, ρ = {AverageDecay}).");
    }

    /// <summary>
    /// Applies the penalty in place to <paramref name="pseudoGradient"/>.
    /// </summary>
    /// <param name="pseudoGradient">The averaged stale pseudo-gradient (anchor basis − averaged local model).</param>
    /// <param name="gap">Current anchor − the basis the pseudo-gradient was computed from (zero without staleness).</param>
    /// <param name="gapAverage">Running average of |gap| (GapAware state, same length; updated here).</param>
    /// <param name="gapRounds">Number of rounds folded into <paramref name="gapAverage"/> (updated here, for bias correction).</param>
    internal void Apply(Span<float> pseudoGradient, ReadOnlySpan<float> gap, Span<float> gapAverage, ref long gapRounds)
    {
        switch (Kind)
        {
            case StalenessPenaltyKind.Constant:
                System.Numerics.Tensors.TensorPrimitives.Divide(pseudoGradient, Strength, pseudoGradient);
                break;
            case StalenessPenaltyKind.GapAware:
                // Only rounds that really carry a gap (i.e. stale ones after the first) enter the average,
                // so ḡ is the typical size of one outer step, not diluted by the synchronous start.
                if (System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(gap) == 0f)
                    return;
                gapRounds++;
                // Scalar reference form; OuterOptimizer's fused SIMD pass computes the same numbers at round boundaries.
                var biasCorrection = 1f / (1f - MathF.Pow(AverageDecay, gapRounds));
                for (var i = 0; i < pseudoGradient.Length; i++)
                {
                    gapAverage[i] = AverageDecay * gapAverage[i] + (1f - AverageDecay) * MathF.Abs(gap[i]);
                    pseudoGradient[i] /= GapAwareDivisor(gap[i], gapAverage[i] * biasCorrection, Strength);
                }
                break;
        }
    }
}

/// <summary>How outer momentum clipping bounds the outer momentum before it is applied.</summary>
public enum MomentumClippingKind
{
    /// <summary>No clipping.</summary>
    None,

    /// <summary>Clamp every element to [−φ, φ] (what the official code intends: <c>torch.clamp(m, -φ, φ)</c>).</summary>
    ElementWise,

    /// <summary>Rescale the whole momentum so that its global L2 norm is at most φ.</summary>
    GlobalNorm,
}

/// <summary>Outer momentum clipping C(m, φ) of CO2.</summary>
/// <param name="Kind">Which rule.</param>
/// <param name="Threshold">φ (the official code's default is 1.0).</param>
public sealed record MomentumClipping(MomentumClippingKind Kind, float Threshold = 1f)
{
    /// <summary>No clipping.</summary>
    public static MomentumClipping None { get; } = new(MomentumClippingKind.None);

    /// <summary>Elementwise clamp to [−φ, φ].</summary>
    public static MomentumClipping ElementWise(float threshold = 1f) => new(MomentumClippingKind.ElementWise, threshold);

    /// <summary>Global L2-norm clip to φ.</summary>
    public static MomentumClipping GlobalNorm(float threshold = 1f) => new(MomentumClippingKind.GlobalNorm, threshold);

    internal void Validate()
    {
        if (Kind != MomentumClippingKind.None && !(Threshold > 0))
            throw new ArgumentOutOfRangeException(nameof(Threshold), $"The clipping threshold φ must be > 0 (got {Threshold}).");
    }

    /// <summary>
    /// Clips <paramref name="momentum"/> in place; returns true when it changed anything.
    /// </summary>
    /// <param name="momentum">This rank's (shard of the) outer momentum.</param>
    /// <param name="sumOverShards">Sums a per-shard partial value over all shards (identity when unsharded); only the global norm needs it.</param>
    internal bool Apply(Span<float> momentum, Func<float, float> sumOverShards)
    {
        switch (Kind)
        {
            case MomentumClippingKind.ElementWise:
                // Purely local (no collective): with sharding this reports whether this rank's shard was clipped.
                // MaxMagnitude returns the signed element of largest magnitude: compare its absolute value.
                var clipped = MathF.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(momentum)) > Threshold;
                if (clipped)
                {
                    System.Numerics.Tensors.TensorPrimitives.Min(momentum, Threshold, momentum);
                    System.Numerics.Tensors.TensorPrimitives.Max(momentum, -Threshold, momentum);
                }
                return clipped;
            case MomentumClippingKind.GlobalNorm:
                var norm = MathF.Sqrt(sumOverShards(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(momentum)));
                if (norm <= Threshold)
                    return false;
                System.Numerics.Tensors.TensorPrimitives.Multiply(momentum, Threshold / norm, momentum);
                return true;
            default:
                return false;
        }
    }
}
