using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace MLNetExt.Distributed;

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
    private readonly float[] _gap;
    private long _gapRounds;

    public OuterOptimizer(DistributedTrainingOptions options, int shardOffset, int shardLength, Func<float, float> sumOverShards)
    {
        _options = options;
        _sumOverShards = sumOverShards;
        ShardOffset = shardOffset;
        Anchor = CollectiveBuffer.Allocate(shardLength); // a collective buffer: sharded runs all-gather it directly
        _basis = new float[shardLength];
        _momentum = new float[shardLength];
        var gapAware = options.Penalty.Kind == StalenessPenaltyKind.GapAware;
        _gapAverage = gapAware ? new float[shardLength] : [];
        _gap = gapAware ? new float[shardLength] : [];
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
        var anchor = Anchor.Span;
        var pseudoGradient = averagedModel;
        TensorPrimitives.Subtract(_basis, averagedModel, pseudoGradient);
        if (_gap.Length > 0)
            TensorPrimitives.Subtract(anchor, _basis, _gap); // how far the anchor moved since Δ's basis: the staleness gap
        _options.Penalty.Apply(pseudoGradient, _gap, _gapAverage, ref _gapRounds);
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
