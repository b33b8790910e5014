using System.Diagnostics;

namespace MLNetExt;

/// <summary>A simulated network link: a fixed per-message latency plus a bandwidth limit.</summary>
/// <param name="Latency">Time added to every collective (one message start-up).</param>
/// <param name="BytesPerSecond">Link bandwidth per rank; <see cref="double.PositiveInfinity"/> for no limit.</param>
public sealed record LinkModel(TimeSpan Latency, double BytesPerSecond)
{
    /// <summary>
    /// Time a collective moving <paramref name="bytesOnWire"/> bytes per rank takes on this link.
    /// </summary>
    public TimeSpan TransferTime(double bytesOnWire)
    {
        if (Latency < TimeSpan.Zero || !(BytesPerSecond > 0))
            throw new InvalidOperationException($"A link needs latency ≥ 0 and bandwidth > 0 (got {Latency}, {BytesPerSecond} B/s).");
        return Latency + TimeSpan.FromSeconds(bytesOnWire / BytesPerSecond);
    }

    /// <summary>
    /// Bytes each rank sends for a collective over <paramref name="floats"/> floats among <paramref name="ranks"/>
    /// ranks, using the ring-algorithm volumes (the bandwidth-optimal schedules MPI and NCCL use for large messages):
    /// all-reduce 2(N−1)/N·B, reduce-scatter and all-gather (N−1)/N·B (B = full vector), broadcast B.
    /// </summary>
    public static double RingBytesOnWire(string operation, long floats, int ranks)
    {
        double bytes = floats * sizeof(float);
        double share = (ranks - 1) / (double)ranks;
        return operation switch
        {
            "AllReduce" => 2 * share * bytes,
            "ReduceScatter" or "AllGather" => share * bytes,
            "Broadcast" => ranks > 1 ? bytes : 0,
            _ => 0,
        };
    }
}

/// <summary>
/// Wraps a transport so that every collective takes at least the time the <see cref="LinkModel"/> gives for it,
/// simulating a slow inter-node link reproducibly on one machine.
/// </summary>
/// <remarks>
/// The delay is applied on the communication thread, inside the collective, so asynchronous operations still
/// overlap with training exactly as they would on a slow network. An operation that already took longer than
/// the model (e.g. on an oversubscribed machine) is not delayed further, so the simulated link time is a floor,
/// not an addition: the same configuration gives the same communication time on fast and slow hosts.
/// </remarks>
public sealed unsafe class ThrottledTransport : ICollectiveTransport
{
    private readonly ICollectiveTransport _inner;

    /// <summary>Wraps <paramref name="inner"/> (owned: disposed with this transport).</summary>
    public ThrottledTransport(ICollectiveTransport inner, LinkModel link)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        Link = link ?? throw new ArgumentNullException(nameof(link));
        link.TransferTime(0); // validates the model now rather than at the first collective
    }

    /// <summary>The simulated link.</summary>
    public LinkModel Link { get; }

    /// <inheritdoc />
    public int Rank => _inner.Rank;

    /// <inheritdoc />
    public int Size => _inner.Size;

    /// <inheritdoc />
    public string Name => $"{_inner.Name}, throttled to {Link.Latency.TotalMilliseconds:0.###} ms + {Link.BytesPerSecond / 1e6:0.###} MB/s";

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count) =>
        Throttle("AllReduce", count, () => _inner.AllReduceSum(buffer, count));

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank) =>
        Throttle("ReduceScatter", (long)countPerRank * Size, () => _inner.ReduceScatterSum(input, output, countPerRank));

    /// <inheritdoc />
    public void AllGather(float* input, float* output, int countPerRank) =>
        Throttle("AllGather", (long)countPerRank * Size, () => _inner.AllGather(input, output, countPerRank));

    /// <inheritdoc />
    public void Broadcast(float* buffer, int count, int root) =>
        Throttle("Broadcast", count, () => _inner.Broadcast(buffer, count, root));

    /// <inheritdoc />
    public void Abort(int errorCode) => _inner.Abort(errorCode);

    /// <inheritdoc />
    public void Barrier() => Throttle("Barrier", 0, _inner.Barrier);

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count, float scale) =>
        Throttle("AllReduce", count, () => _inner.AllReduceSum(buffer, count, scale));

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank, float scale) =>
        Throttle("ReduceScatter", (long)countPerRank * Size, () => _inner.ReduceScatterSum(input, output, countPerRank, scale));

    /// <inheritdoc />
    public CollectiveBuffer Allocate(int length) => _inner.Allocate(length);

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();

    private void Throttle(string operation, long floats, Action run)
    {
        var clock = Stopwatch.StartNew();
        run();
        var target = Link.TransferTime(LinkModel.RingBytesOnWire(operation, floats, Size));
        PreciseSleep.Until(clock, target); // sleeps without taking CPU from training threads
    }
}
