namespace MLNetExt;

/// <summary>How a reduction combines the ranks' values.</summary>
public enum ReduceOperation
{
    /// <summary>Elementwise sum over ranks.</summary>
    Sum,

    /// <summary>Elementwise sum over ranks divided by the number of ranks.</summary>
    Average,
}

/// <summary>
/// The collective operations data-parallel training needs, for one rank of a group of <see cref="Size"/> ranks.
/// </summary>
/// <remarks>
/// <para>Every rank must issue the same collectives in the same order (as in MPI). Blocking calls and
/// <see cref="CollectiveRequest.Wait()"/> are bounded by <see cref="Timeout"/>: when a peer never arrives
/// (it died, hangs, or took another code path) the call throws <see cref="CollectiveTimeoutException"/>
/// naming this rank and the operation instead of hanging.</para>
/// <para>Implementations: <see cref="CollectiveBackend"/> over an <see cref="ICollectiveTransport"/>
/// (<see cref="InProcessTransport"/> for threads in one process, <see cref="MpiTransport"/> for MPICH,
/// optionally wrapped in <see cref="ThrottledTransport"/>). A GPU backend (NCCL) would implement this interface
/// directly: <see cref="Allocate"/> is where it would hand out device or registered memory, and the
/// <c>*Async</c> methods map onto operations enqueued on a dedicated CUDA stream.</para>
/// </remarks>
public interface ICollectiveBackend : IDisposable
{
    /// <summary>
    /// Records that this rank hit an error its peers do not see (e.g. a damaged checkpoint file) and cannot go on. Later
    /// operations fail at once, and disposing the backend then ends the job promptly (<see cref="ICollectiveTransport.Abort"/>)
    /// instead of running the collective shutdown the peers would never join. Default: nothing.
    /// </summary>
    void Fail(string reason) { }

    /// <summary>This rank's index, 0 ≤ Rank &lt; Size.</summary>
    int Rank { get; }

    /// <summary>Number of ranks in the group.</summary>
    int Size { get; }

    /// <summary>Short description for logs and error messages, e.g. "mpi(mpich)" or "in-process".</summary>
    string Name { get; }

    /// <summary>Upper bound on how long any collective may wait for peers.</summary>
    TimeSpan Timeout { get; }

    /// <summary>
    /// CPU time the backend's own communication work has used so far (its thread, for <see cref="CollectiveBackend"/>);
    /// zero when the backend cannot measure it.
    /// </summary>
    TimeSpan CommunicationCpuTime => TimeSpan.Zero;

    /// <summary>
    /// Allocates a buffer suitable for this backend's collectives. Where ranks share memory (MPI ranks on one node) the
    /// buffer lives in memory the peers read directly, and the call is collective: allocate the same lengths in the same
    /// order on every rank.
    /// </summary>
    CollectiveBuffer Allocate(int length);

    /// <summary>Reduces <paramref name="buffer"/> over all ranks, in place; every rank receives the result.</summary>
    void AllReduce(CollectiveBuffer buffer, ReduceOperation operation);

    /// <summary>
    /// Starts <see cref="AllReduce"/> without waiting; the buffer must not be touched until the request completes.
    /// </summary>
    CollectiveRequest AllReduceAsync(CollectiveBuffer buffer, ReduceOperation operation);

    /// <summary>
    /// Reduces <paramref name="input"/> (length <c>Size × output.Length</c>) over all ranks and leaves slice
    /// <c>Rank</c> of the result in <paramref name="output"/>.
    /// </summary>
    void ReduceScatter(CollectiveBuffer input, CollectiveBuffer output, ReduceOperation operation);

    /// <summary>Starts <see cref="ReduceScatter"/> without waiting.</summary>
    CollectiveRequest ReduceScatterAsync(CollectiveBuffer input, CollectiveBuffer output, ReduceOperation operation);

    /// <summary>
    /// Concatenates every rank's <paramref name="shard"/> in rank order into <paramref name="output"/>
    /// (length <c>Size × shard.Length</c>).
    /// </summary>
    void AllGather(CollectiveBuffer shard, CollectiveBuffer output);

    /// <summary>Starts <see cref="AllGather"/> without waiting.</summary>
    CollectiveRequest AllGatherAsync(CollectiveBuffer shard, CollectiveBuffer output);

    /// <summary>
    /// Queues local work (no collectives) behind every operation issued so far: it runs once they completed and before
    /// any operation issued after it, without the caller waiting (what a host callback on a CUDA stream does). A failure
    /// fails the backend like a failed collective.
    /// </summary>
    CollectiveRequest RunInOrder(string description, Action work);

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into every other rank's buffer.</summary>
    void Broadcast(CollectiveBuffer buffer, int root);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();
}
