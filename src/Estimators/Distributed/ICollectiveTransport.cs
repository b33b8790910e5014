namespace MLNetExt.Distributed;

/// <summary>
/// The blocking wire operations under a <see cref="CollectiveBackend"/>: sum-reductions, gathers and broadcasts
/// on raw float buffers. The backend adds ordering, asynchrony (a dedicated communication thread), averaging,
/// argument checks and timeouts, so a transport only moves and adds numbers.
/// </summary>
/// <remarks>Calls arrive from a single thread (the backend's communication thread), one at a time.</remarks>
public unsafe interface ICollectiveTransport : IDisposable
{
    /// <summary>This rank's index.</summary>
    int Rank { get; }

    /// <summary>Number of ranks.</summary>
    int Size { get; }

    /// <summary>Short description for logs and error messages.</summary>
    string Name { get; }

    /// <summary>In-place elementwise sum of <paramref name="count"/> floats over all ranks.</summary>
    void AllReduceSum(float* buffer, int count);

    /// <summary>Sums <c>Size × countPerRank</c> floats over ranks; writes slice <c>Rank</c> into <paramref name="output"/>.</summary>
    void ReduceScatterSum(float* input, float* output, int countPerRank);

    /// <summary>Concatenates every rank's <paramref name="countPerRank"/> floats in rank order into <paramref name="output"/>.</summary>
    void AllGather(float* input, float* output, int countPerRank);

    /// <summary>Copies <paramref name="count"/> floats from rank <paramref name="root"/> to all ranks.</summary>
    void Broadcast(float* buffer, int count, int root);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}
