using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>
/// The outer optimizer state of Local-SGD/SlowMo/CO2 for one contiguous slice (shard) of the flat parameters:
/// the anchor (synchronised model), the basis the in-flight average is relative to, and the outer momentum.
/// </summary>
/// <remarks>
/// Unsharded, the slice is the whole vector on every rank; with ZeRO-1-style sharding each rank owns 1/N of it.
/// The update is elementwise except for the global-norm clip, whose sum of squares is combined over shards through
/// <c>sumOverShards</c>, so sharded and unsharded runs compute the same numbers.
/// </remarks>
internal sealed class OuterOptimizer : IDisposable
{
    private readonly DistributedTrainingOptions _options;
    private readonly Func<float, float> _sumOverShards;
    private readonly float[] _basis;
    private readonly float[] _momentum;
    private readonly float[] _gapAverage;
    private float[]? _gap; // scratch of the rule-by-rule path only (the fused one forms the gap in registers): made on first use
    private long _gapRounds;

    public OuterOptimizer(DistributedTrainingOptions options, int shardOffset, int shardLength, Func<float, float> sumOverShards)
    {
        _options = options;
        _sumOverShards = sumOverShards;
        ShardOffset = shardOffset;
        Anchor = CollectiveBuffer.Allocate(shardLength); // a collective buffer: sharded runs all-gather it directly
        _basis = new float[shardLength];
        _momentum = new float[shardLength];
        _gapAverage = options.Penalty.Kind == StalenessPenaltyKind.GapAware ? new float[shardLength] : [];
    }

    /// <summary>First flat index of this shard.</summary>
    public int ShardOffset { get; }

    /// <summary>This shard of the synchronised model (identical on all ranks for the same shard).</summary>
    public CollectiveBuffer Anchor { get; }

    /// <summary>This shard of the outer momentum.</summary>
    public ReadOnlySpan<float> Momentum => _momentum;

    /// <summary>Rounds in which clipping changed the momentum.</summary>
    public long ClipActivations { get; private set; }

    /// <summary>Floats of persistent outer state held by this rank (anchor, basis, momentum, gap average).</summary>
    public long StateFloats => (long)Anchor.Length * 3 + _gapAverage.Length;

    /// <summary>Takes this shard of <paramref name="parameters"/> as anchor; positions past the end (padding) stay zero.</summary>
    public void Initialize(ReadOnlySpan<float> parameters)
    {
        var available = Math.Clamp(parameters.Length - ShardOffset, 0, Anchor.Length);
        Anchor.Span.Clear();
        parameters.Slice(Math.Min(ShardOffset, parameters.Length), available).CopyTo(Anchor.Span);
        Array.Clear(_momentum);
        MarkRoundStart();
    }

    /// <summary>Records the current anchor as the basis of the round that starts now.</summary>
    public void MarkRoundStart() => Anchor.Span.CopyTo(_basis);

    /// <summary>
    /// One outer step from the averaged local models of the round whose basis is stored:
    /// Δ = basis − x̄; Δ ← P(Δ, anchor − basis); m ← β·m + Δ; m ← C(m, φ); basis ← anchor; anchor ← anchor − α·m.
    /// </summary>
    /// <param name="averagedModel">x̄ for this shard; overwritten with the pseudo-gradient.</param>
    public void Apply(Span<float> averagedModel)
    {
        if (_options.Clipping.Kind == MomentumClippingKind.GlobalNorm || !Vector.IsHardwareAccelerated || UseStepwiseUpdate)
            ApplyStepwise(averagedModel);
        else
            ApplyFused(averagedModel);
    }

    /// <summary>Forces the rule-by-rule update (tests compare it with the fused one).</summary>
    internal bool UseStepwiseUpdate { get; set; }

    // The same update as ApplyStepwise in one pass over the model instead of ~10 (plus an early-exit check): it runs on
    // the training thread at every round boundary, where each pass over a large model is time taken from training, and
    // the step is bound by memory traffic. The pseudo-gradient and the staleness gap are formed per element, in
    // registers, with the same operations in the same order, so both paths give bitwise the same numbers (tested).
    // Needs every rule to be elementwise (not the global-norm clip). Unlike ApplyStepwise it leaves averagedModel as is.
    private void ApplyFused(Span<float> averagedModel)
    {
        var anchor = Anchor.Span;
        var penalty = _options.Penalty;
        // The first stale round has no gap yet (the anchor has not moved since Δ's basis): no penalty then.
        var gapAware = penalty.Kind == StalenessPenaltyKind.GapAware && HasMoved(anchor, _basis);
        if (gapAware)
            _gapRounds++;
        float decay = penalty.AverageDecay, keep = 1f - decay, lambda = penalty.Strength, beta = _options.OuterMomentum,
            step = -_options.OuterLearningRate, bias = gapAware ? 1f / (1f - MathF.Pow(decay, _gapRounds)) : 0f,
            divisor = penalty.Kind == StalenessPenaltyKind.Constant ? penalty.Strength : 1f; // x / 1 == x exactly
        var clip = _options.Clipping.Kind == MomentumClippingKind.ElementWise;
        float phi = _options.Clipping.Threshold;
        var clipped = false;

        var width = Vector<float>.Count;
        var body = anchor.Length / width * width;
        var avg = MemoryMarshal.Cast<float, Vector<float>>(averagedModel[..body]);
        var a = MemoryMarshal.Cast<float, Vector<float>>(anchor[..body]);
        var b = MemoryMarshal.Cast<float, Vector<float>>(_basis.AsSpan(0, body));
        var m = MemoryMarshal.Cast<float, Vector<float>>(_momentum.AsSpan(0, body));
        var ga = gapAware ? MemoryMarshal.Cast<float, Vector<float>>(_gapAverage.AsSpan(0, body)) : default;
        Vector<float> epsilon = new(StalenessGapPenalty.DivisorEpsilon), phiV = new(phi), minusPhi = new(-phi);
        for (var i = 0; i < a.Length; i++)
        {
            Vector<float> basis = b[i], current = a[i];
            var delta = basis - avg[i]; // pseudo-gradient: basis − average
            if (gapAware)
            {
                var absGap = Vector.Abs(current - basis);
                ga[i] = decay * ga[i] + keep * absGap;
                delta /= Vector<float>.One + lambda * absGap / (ga[i] * bias + epsilon);
            }
            else
            {
                delta /= divisor;
            }
            var momentum = m[i] * beta + delta;
            if (clip)
            {
                clipped |= Vector.GreaterThanAny(Vector.Abs(momentum), phiV);
                momentum = Vector.Max(Vector.Min(momentum, phiV), minusPhi);
            }
            m[i] = momentum;
            b[i] = current;
            a[i] = momentum * step + current;
        }
        for (var i = body; i < anchor.Length; i++)
        {
            var delta = _basis[i] - averagedModel[i];
            if (gapAware)
            {
                var gap = anchor[i] - _basis[i];
                _gapAverage[i] = decay * _gapAverage[i] + keep * MathF.Abs(gap);
                delta /= StalenessGapPenalty.GapAwareDivisor(gap, _gapAverage[i] * bias, lambda);
            }
            else
            {
                delta /= divisor;
            }
            var momentum = _momentum[i] * beta + delta;
            if (clip)
            {
                clipped |= MathF.Abs(momentum) > phi;
                momentum = MathF.Max(MathF.Min(momentum, phi), -phi);
            }
            _momentum[i] = momentum;
            _basis[i] = anchor[i];
            anchor[i] = momentum * step + anchor[i];
        }
        if (clipped)
            ClipActivations++;
    }

    // Whether any element of anchor − basis is non-zero (NaN counts, as in the rule's MaxMagnitude test); stops at the first.
    private static bool HasMoved(ReadOnlySpan<float> anchor, ReadOnlySpan<float> basis)
    {
        var width = Vector<float>.Count;
        var body = anchor.Length / width * width;
        var a = MemoryMarshal.Cast<float, Vector<float>>(anchor[..body]);
        var b = MemoryMarshal.Cast<float, Vector<float>>(basis[..body]);
        for (var i = 0; i < a.Length; i++)
            if (!Vector.EqualsAll(a[i] - b[i], Vector<float>.Zero))
                return true;
        for (var i = body; i < anchor.Length; i++)
            if (anchor[i] - basis[i] != 0f)
                return true;
        return false;
    }

    private void ApplyStepwise(Span<float> averagedModel)
    {
        var anchor = Anchor.Span;
        var pseudoGradient = averagedModel;
        TensorPrimitives.Subtract(_basis, averagedModel, pseudoGradient);
        float[] gap = _gapAverage.Length > 0 ? _gap ??= new float[Anchor.Length] : [];
        if (gap.Length > 0)
            TensorPrimitives.Subtract(anchor, _basis, gap); // how far the anchor moved since Δ's basis: the staleness gap
        _options.Penalty.Apply(pseudoGradient, gap, _gapAverage, ref _gapRounds);
        TensorPrimitives.MultiplyAdd(_momentum, _options.OuterMomentum, pseudoGradient, _momentum);
        if (_options.Clipping.Apply(_momentum, _sumOverShards))
            ClipActivations++;
        anchor.CopyTo(_basis);
        TensorPrimitives.MultiplyAdd(_momentum, -_options.OuterLearningRate, anchor, anchor);
    }

    public void Save(BinaryWriter writer)
    {
        writer.Write(ShardOffset);
        writer.Write(Anchor.Length);
        DistributedCheckpoint.WriteFloats(writer, Anchor.Span);
        DistributedCheckpoint.WriteFloats(writer, _basis);
        DistributedCheckpoint.WriteFloats(writer, _momentum);
        DistributedCheckpoint.WriteFloats(writer, _gapAverage);
        writer.Write(_gapRounds);
        writer.Write(ClipActivations);
    }

    public void Load(BinaryReader reader)
    {
        var offset = reader.ReadInt32();
        var length = reader.ReadInt32();
        if (offset != ShardOffset || length != Anchor.Length)
            throw new InvalidDataException($"The checkpoint holds outer-state shard [{offset}, +{length}) but this rank owns [{ShardOffset}, +{Anchor.Length}).");
        DistributedCheckpoint.ReadFloats(reader, Anchor.Span);
        DistributedCheckpoint.ReadFloats(reader, _basis);
        DistributedCheckpoint.ReadFloats(reader, _momentum);
        DistributedCheckpoint.ReadFloats(reader, _gapAverage);
        _gapRounds = reader.ReadInt64();
        ClipActivations = reader.ReadInt64();
    }

    public void Dispose() => Anchor.Dispose();
}

/// <summary>Binary helpers for the per-rank checkpoint format.</summary>
internal static class DistributedCheckpoint
{
    public const string Magic = "MLNetExt.Distributed.Checkpoint";
    public const int Version = 1;

    public static void WriteFloats(BinaryWriter writer, ReadOnlySpan<float> values)
    {
        writer.Write(values.Length);
        writer.Write(MemoryMarshal.AsBytes(values));
    }

    public static void ReadFloats(BinaryReader reader, Span<float> destination)
    {
        var length = reader.ReadInt32();
        if (length != destination.Length)
            throw new InvalidDataException($"The checkpoint holds a vector of {length} floats where {destination.Length} were expected.");
        var bytes = MemoryMarshal.AsBytes(destination);
        while (bytes.Length > 0)
        {
            var read = reader.Read(bytes); // a stream may return fewer bytes than asked
            if (read == 0)
                throw new EndOfStreamException("The checkpoint ended inside a float vector.");
            bytes = bytes[read..];
        }
    }
}
