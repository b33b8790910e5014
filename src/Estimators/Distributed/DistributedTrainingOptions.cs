namespace MLNetExt;

/// <summary>How data-parallel workers keep their models in agreement.</summary>
public enum DistributedAlgorithm
{
    /// <summary>DDP-style: gradients are averaged (blocking all-reduce) after every step; no outer optimizer.</summary>
    SynchronousDataParallel,

    /// <summary>
    /// Local-SGD / SlowMo: τ local steps, then a blocking average and an outer momentum step on the fresh average.
    /// Local-SGD is outer LR 1 and momentum 0; SlowMo uses momentum &gt; 0.
    /// </summary>
    LocalSgd,

    /// <summary>
    /// CO2: τ local steps while the previous round's average is all-reduced in the background; the outer step uses
    /// that one-round-stale average, with the staleness gap penalty and outer momentum clipping.
    /// </summary>
    Co2,
}

/// <summary>Settings of a <see cref="DistributedCoordinator"/>; start from a preset such as <see cref="Co2"/>.</summary>
public sealed record DistributedTrainingOptions
{
    /// <summary>The synchronisation algorithm.</summary>
    public DistributedAlgorithm Algorithm { get; init; } = DistributedAlgorithm.Co2;

    /// <summary>τ: inner optimizer steps per outer round (ignored by <see cref="DistributedAlgorithm.SynchronousDataParallel"/>).</summary>
    public int LocalSteps { get; init; } = 4;

    /// <summary>α: outer learning rate (anchor ← anchor − α·m).</summary>
    public float OuterLearningRate { get; init; } = 1f;

    /// <summary>β: outer momentum (m ← β·m + P(Δ)).</summary>
    public float OuterMomentum { get; init; }

    /// <summary>Staleness gap penalty P(·) (CO2 only; Local-SGD has no staleness).</summary>
    public StalenessGapPenalty Penalty { get; init; } = StalenessGapPenalty.None;

    /// <summary>Outer momentum clipping C(·, φ).</summary>
    public MomentumClipping Clipping { get; init; } = MomentumClipping.None;

    /// <summary>
    /// ZeRO-1-style sharding of the outer state: each rank keeps and updates only its 1/N slice of the anchor and
    /// momentum, receives its slice of the average by reduce-scatter and all-gathers the new anchor.
    /// </summary>
    public bool ShardOuterState { get; init; }

    /// <summary>DDP baseline: gradient all-reduce every step.</summary>
    public static DistributedTrainingOptions SynchronousDataParallel() => new() { Algorithm = DistributedAlgorithm.SynchronousDataParallel };

    /// <summary>Local-SGD: plain model averaging every <paramref name="localSteps"/> steps (blocking).</summary>
    public static DistributedTrainingOptions LocalSgd(int localSteps) =>
        new() { Algorithm = DistributedAlgorithm.LocalSgd, LocalSteps = localSteps };

    /// <summary>SlowMo: blocking averaging every <paramref name="localSteps"/> steps plus an outer momentum step.</summary>
    public static DistributedTrainingOptions SlowMo(int localSteps, float outerLearningRate = 1f, float outerMomentum = 0.5f) =>
        new() { Algorithm = DistributedAlgorithm.LocalSgd, LocalSteps = localSteps, OuterLearningRate = outerLearningRate, OuterMomentum = outerMomentum };

    /// <summary>
    /// CO2 with its two stabilisers; defaults follow the official code's example recipe (β = 0.2, elementwise
    /// clip φ = 1) and the gap-aware penalty with λ = 1.
    /// </summary>
    public static DistributedTrainingOptions Co2(int localSteps, float outerLearningRate = 1f, float outerMomentum = 0.2f,
        StalenessGapPenalty? penalty = null, MomentumClipping? clipping = null) => new()
    {
        Algorithm = DistributedAlgorithm.Co2,
        LocalSteps = localSteps,
        OuterLearningRate = outerLearningRate,
        OuterMomentum = outerMomentum,
        Penalty = penalty ?? StalenessGapPenalty.GapAware(),
        Clipping = clipping ?? MomentumClipping.ElementWise(1f),
    };

    /// <summary>Throws <see cref="ArgumentException"/> describing the first invalid setting.</summary>
    public void Validate()
    {
        if (LocalSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(LocalSteps), $"τ (LocalSteps) must be ≥ 1 (got {LocalSteps}).");
        if (!(OuterLearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(OuterLearningRate), $"The outer learning rate must be > 0 (got {OuterLearningRate}).");
        if (!(OuterMomentum >= 0 && OuterMomentum < 1))
            throw new ArgumentOutOfRangeException(nameof(OuterMomentum), $"The outer momentum must be in [0, 1) (got {OuterMomentum}).");
        ArgumentNullException.ThrowIfNull(Penalty, nameof(Penalty));
        ArgumentNullException.ThrowIfNull(Clipping, nameof(Clipping));
        Penalty.Validate();
        Clipping.Validate();
        if (Algorithm == DistributedAlgorithm.SynchronousDataParallel && ShardOuterState)
            throw new ArgumentException("Synchronous data-parallel training has no outer state to shard.", nameof(ShardOuterState));
    }
}
