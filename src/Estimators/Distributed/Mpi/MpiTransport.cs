namespace MLNetExt.Distributed.Mpi;

/// <summary>
/// <see cref="ICollectiveTransport"/> over MPI_COMM_WORLD of an MPICH-ABI library (Debian's <c>mpich</c>),
/// for processes launched with <c>mpiexec -n N dotnet app.dll</c>.
/// </summary>
/// <remarks>
/// <para>Create it once per process with <see cref="InitializeWorld"/> on the thread that will also dispose it
/// (MPI requires MPI_Finalize on the initialising thread); collectives may then run on any one thread at a time,
/// which is how <see cref="CollectiveBackend"/> drives it from its communication thread.</para>
/// <para>Why peers are awaited before each collective: MPICH busy-polls inside a blocking collective until every
/// rank has joined. A rank that arrives early would spin a core for the whole time its peers are still computing,
/// taking that core from the training threads of this machine (ranks usually share a node's cores). So each
/// collective first waits for all ranks with a non-blocking barrier polled every <see cref="PeerPollInterval"/>
/// while sleeping, and only then runs the blocking call, which finishes without a long spin.</para>
/// <para>Errors are returned (MPI_ERRORS_RETURN) and turned into exceptions that name the call and the rank.
/// A rank that dies makes mpiexec stop the job; a rank that stalls is caught by the backend's timeout.</para>
/// </remarks>
public sealed unsafe class MpiTransport : ICollectiveTransport
{
    private static int _initialized;
    private bool _disposed;

    private MpiTransport(int rank, int size, string library, int threadLevel)
    {
        Rank = rank;
        Size = size;
        ThreadLevel = threadLevel;
        Name = $"mpi ({library})";
    }

    /// <summary>True when this process was started by an MPI launcher (MPICH hydra or PMIx).</summary>
    public static bool IsLaunchedByMpiexec =>
        Environment.GetEnvironmentVariable("PMI_RANK") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>
    /// How often a rank that reached a collective first checks (sleeping in between) whether all peers have joined;
    /// <see cref="TimeSpan.Zero"/> disables the check (the blocking call then busy-waits for late peers).
    /// Default 0.2 ms.
    /// </summary>
    public TimeSpan PeerPollInterval { get; set; } = TimeSpan.FromMilliseconds(0.2);

    /// <summary>The thread support level MPI provided (3 = MPI_THREAD_MULTIPLE).</summary>
    public int ThreadLevel { get; }

    /// <summary>
    /// Initialises MPI with MPI_THREAD_MULTIPLE (at most once per process) and returns the world transport.
    /// </summary>
    /// <exception cref="DllNotFoundException">When no MPI library is installed.</exception>
    /// <exception cref="InvalidOperationException">When MPI was already initialised, or cannot serve a communication thread.</exception>
    public static MpiTransport InitializeWorld()
    {
        if (Interlocked.Exchange(ref _initialized, 1) == 1)
            throw new InvalidOperationException("MPI can be initialised only once per process; reuse the first MpiTransport.");
        // UCX (MPICH's ch4 device) installs a SIGSEGV handler that turns .NET's NullReferenceException into a
        // process crash unless this is empty; it must be in the native environment before MPI_Init.
        MpiNative.SetNativeEnvironmentVariable("UCX_ERROR_SIGNALS", "");
        var api = MpiNative.Api;
        int already;
        Check(api.Initialized(&already), "MPI_Initialized", rank: -1);
        if (already != 0)
            throw new InvalidOperationException("MPI was already initialised by other code in this process.");
        int provided;
        Check(api.InitThread(null, null, MpiNative.ThreadMultiple, &provided), "MPI_Init_thread", rank: -1);
        // All our calls are serialised through one communication thread, so SERIALIZED is the real minimum.
        if (provided < MpiNative.ThreadSerialized)
            throw new InvalidOperationException(
                $"{api.LibraryName} provides thread level {provided}; a communication thread needs at least MPI_THREAD_SERIALIZED (2).");
        Check(api.CommSetErrhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler", rank: -1);
        int rank, size;
        Check(api.CommRank(MpiNative.CommWorld, &rank), "MPI_Comm_rank", rank: -1);
        Check(api.CommSize(MpiNative.CommWorld, &size), "MPI_Comm_size", rank);
        return new MpiTransport(rank, size, api.LibraryName, provided);
    }

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count)
    {
        WaitForPeers();
        Check(MpiNative.Api.Allreduce(MpiNative.InPlace, buffer, count, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce", Rank);
    }

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank)
    {
        WaitForPeers();
        Check(MpiNative.Api.ReduceScatterBlock(input, output, countPerRank, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Reduce_scatter_block", Rank);
    }

    /// <inheritdoc />
    public void AllGather(float* input, float* output, int countPerRank)
    {
        WaitForPeers();
        Check(MpiNative.Api.Allgather(input, countPerRank, MpiNative.Float, output, countPerRank, MpiNative.Float, MpiNative.CommWorld), "MPI_Allgather", Rank);
    }

    /// <inheritdoc />
    public void Broadcast(float* buffer, int count, int root)
    {
        WaitForPeers();
        Check(MpiNative.Api.Bcast(buffer, count, MpiNative.Float, root, MpiNative.CommWorld), "MPI_Bcast", Rank);
    }

    /// <inheritdoc />
    public void Barrier()
    {
        if (!WaitForPeers()) // the polled wait is itself a barrier
            Check(MpiNative.Api.Barrier(MpiNative.CommWorld), "MPI_Barrier", Rank);
    }

    /// <summary>Terminates every rank of the job (MPI_Abort), e.g. after an unrecoverable error on this one.</summary>
    public void Abort(int errorCode) => MpiNative.Api.Abort(MpiNative.CommWorld, errorCode);

    /// <summary>Calls MPI_Finalize (on the initialising thread).</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        int finalized;
        if (MpiNative.Api.Finalized(&finalized) == MpiNative.Success && finalized == 0)
            Check(MpiNative.Api.Finalize(), "MPI_Finalize", Rank);
    }

    // Returns false (without waiting) when the polled wait is switched off or there are no peers.
    private bool WaitForPeers()
    {
        if (PeerPollInterval <= TimeSpan.Zero || Size == 1)
            return false;
        int request, done = 0;
        Check(MpiNative.Api.Ibarrier(MpiNative.CommWorld, &request), "MPI_Ibarrier", Rank);
        while (true)
        {
            Check(MpiNative.Api.Test(&request, &done, MpiNative.StatusIgnore), "MPI_Test", Rank);
            if (done != 0)
                return true;
            PreciseSleep.For(PeerPollInterval);
        }
    }

    private static void Check(int code, string call, int rank)
    {
        if (code != MpiNative.Success)
            throw new CollectiveException($"{call} failed on rank {(rank < 0 ? "?" : rank.ToString())}: {MpiNative.Describe(code)}");
    }
}
