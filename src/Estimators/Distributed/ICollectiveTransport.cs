namespace MLNetExt;

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

    /// <summary>
    /// Ends the whole job at once after an unrecoverable error on this rank, instead of the collective shutdown its peers
    /// would never join (MPI: <c>MPI_Abort</c>, which terminates every rank). Default: nothing — in-process ranks see the
    /// failure through the backend's fault and their own timeouts.
    /// </summary>
    void Abort(int errorCode) { }

    /// <summary>
    /// <see cref="AllReduceSum(float*, int)"/>, then every element × <paramref name="scale"/>. Transports that add the
    /// numbers themselves fuse the scaling into the last addition, saving a pass over the buffer.
    /// </summary>
    void AllReduceSum(float* buffer, int count, float scale)
    {
        AllReduceSum(buffer, count);
        if (scale != 1)
            System.Numerics.Tensors.TensorPrimitives.Multiply(new ReadOnlySpan<float>(buffer, count), scale, new Span<float>(buffer, count));
    }

    /// <summary><see cref="ReduceScatterSum(float*, float*, int)"/>, then the output × <paramref name="scale"/> (fused where possible).</summary>
    void ReduceScatterSum(float* input, float* output, int countPerRank, float scale)
    {
        ReduceScatterSum(input, output, countPerRank);
        if (scale != 1)
            System.Numerics.Tensors.TensorPrimitives.Multiply(new ReadOnlySpan<float>(output, countPerRank), scale, new Span<float>(output, countPerRank));
    }

    /// <summary>
    /// A buffer for collectives. Transports whose ranks can share memory return memory the peers read and write directly,
    /// so collectives on it need no copy in or out; this call is then itself collective (every rank allocates the same
    /// lengths in the same order). Default: private memory (<see cref="CollectiveBuffer.Allocate"/>).
    /// </summary>
    CollectiveBuffer Allocate(int length) => CollectiveBuffer.Allocate(length);
}
