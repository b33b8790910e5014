namespace MLNetExt;

/// <summary>
/// <see cref="ICollectiveTransport"/> over MPI_COMM_WORLD of an MPICH-ABI library (Debian's <c>mpich</c>),
/// for processes launched with <c>mpiexec -n N dotnet app.dll</c>.
/// </summary>
/// <remarks>
/// <para>Create it once per process with <see cref="InitializeWorld"/> on the thread that will also dispose it
/// (MPI requires MPI_Finalize on the initialising thread); collectives may then run on any one thread at a time,
/// which is how <see cref="CollectiveBackend"/> drives it from its communication thread.</para>
/// <para>Why collectives are non-blocking and polled while sleeping: MPICH busy-polls inside a blocking collective
/// until it completes — while late peers are still computing, and again between the stages of the algorithm whenever a
/// peer's thread is not running. Ranks usually share a node's cores with their training threads; with 4 ranks on 2
/// cores the communication threads measured 16–18 % of a core each in blocking calls (a third of the machine), taken
/// from training. So every collective is started with its non-blocking form (<c>MPI_Iallreduce</c>, ...) and its
/// request is tested every <see cref="PollInterval"/>, sleeping in between: MPICH progresses the collective inside
/// each <c>MPI_Test</c>, and the thread takes CPU only for the work itself.</para>
/// <para>Errors are returned (MPI_ERRORS_RETURN) and turned into exceptions that name the call and the rank.
/// A rank that dies makes mpiexec stop the job; a rank that stalls is caught by the backend's timeout.</para>
/// </remarks>
public sealed unsafe class MpiTransport : ICollectiveTransport
{
    private static int _initialized;
    private bool _disposed;
    private readonly string _library;
    private int _nodeComm;
    private MpiSharedMemoryCollectives? _shared;

    private MpiTransport(int rank, int size, string library, int threadLevel, int nodeComm)
    {
        Rank = rank;
        Size = size;
        ThreadLevel = threadLevel;
        _library = library;
        _nodeComm = nodeComm;
    }

    /// <summary>True when this process was started by an MPI launcher (MPICH hydra or PMIx).</summary>
    public static bool IsLaunchedByMpiexec =>
        Environment.GetEnvironmentVariable("PMI_RANK") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public string Name => $"mpi ({_library}{(UsesSharedMemory ? ", node shared memory" : "")})";

    /// <summary>True when every rank of the job runs on this node (so they can share memory).</summary>
    public bool AllRanksOnOneNode => _nodeComm != MpiNative.CommNull;

    /// <summary>
    /// When every rank runs on one node, move the numbers of reductions, gathers and broadcasts through an MPI-3
    /// shared-memory window (each rank writes its contribution once and sums its 1/N of the elements in rank order)
    /// instead of MPICH's collectives, whose copies through small cells cost ~2.5× the CPU. Default true; set it
    /// the same on every rank before the first collective. Ignored (MPICH's collectives) when ranks span nodes.
    /// </summary>
    public bool SharedMemoryCollectives { get; set; } = true;

    private bool UsesSharedMemory => SharedMemoryCollectives && AllRanksOnOneNode && Size > 1;

    /// <summary>
    /// How often a running collective is tested for progress and completion (sleeping in between);
    /// <see cref="TimeSpan.Zero"/> runs the blocking MPI calls instead, which busy-wait inside MPICH. Default 0.2 ms.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(0.2);

    /// <summary>
    /// The longest sleep between two tests of one collective. The sleep starts at <see cref="PollInterval"/> and grows
    /// by half after every test that finds the collective still running, up to this value. Why: a collective mostly
    /// waits for the slowest peer to arrive (ranks drift by milliseconds between round boundaries), and every test
    /// wakes the communication thread on a core that training needs; growing the interval cuts those wake-ups
    /// (a 10 ms wait takes 9 tests instead of 50) while a short wait is still noticed within a fraction of a
    /// millisecond. Default 2 ms; set it equal to <see cref="PollInterval"/> for a fixed interval.
    /// </summary>
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromMilliseconds(2);

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
        int rank, size, nodeComm, nodeSize;
        Check(api.CommRank(MpiNative.CommWorld, &rank), "MPI_Comm_rank", rank: -1);
        Check(api.CommSize(MpiNative.CommWorld, &size), "MPI_Comm_size", rank);
        // The ranks that share this node's memory; shared-memory collectives need all of them on one node.
        Check(api.CommSplitType(MpiNative.CommWorld, MpiNative.CommTypeShared, rank, MpiNative.InfoNull, &nodeComm), "MPI_Comm_split_type", rank);
        Check(api.CommSize(nodeComm, &nodeSize), "MPI_Comm_size (node)", rank);
        if (nodeSize != size)
            Check(api.CommFree(&nodeComm), "MPI_Comm_free", rank); // sets it to MPI_COMM_NULL
        // An exception no code catches ends this rank; without MPI_Abort its peers would wait in their next collective
        // until the timeout (and this rank's own shutdown could block in a collective free). Report it, then end the job.
        int worldRank = rank, worldSize = size;
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            try
            {
                Console.Error.WriteLine($"Unhandled exception on MPI rank {worldRank} of {worldSize}; aborting the job: {e.ExceptionObject}");
                Console.Error.Flush();
            }
            finally
            {
                AbortJob(1);
            }
        };
        return new MpiTransport(rank, size, api.LibraryName, provided, nodeComm);
    }

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count) => AllReduceSum(buffer, count, 1f);

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count, float scale)
    {
        if (SharedMemory is { } shared)
            shared.AllReduceSum(buffer, count, scale);
        else
        {
            MpichAllReduceSum(buffer, count);
            Scale(buffer, count, scale);
        }
    }

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank) => ReduceScatterSum(input, output, countPerRank, 1f);

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank, float scale)
    {
        if (SharedMemory is { } shared)
            shared.ReduceScatterSum(input, output, countPerRank, scale);
        else
        {
            MpichReduceScatterSum(input, output, countPerRank);
            Scale(output, countPerRank, scale);
        }
    }

    /// <summary>
    /// With node shared memory: a buffer inside an MPI-3 shared window, which collectives read and write in place on every
    /// rank (collective: allocate the same lengths in the same order everywhere). Otherwise private memory.
    /// </summary>
    public CollectiveBuffer Allocate(int length) => SharedMemory is { } shared ? shared.Allocate(length) : CollectiveBuffer.Allocate(length);

    private static void Scale(float* values, int count, float scale)
    {
        if (scale != 1)
            System.Numerics.Tensors.TensorPrimitives.Multiply(new ReadOnlySpan<float>(values, count), scale, new Span<float>(values, count));
    }

    private void MpichAllReduceSum(float* buffer, int count)
    {
        var api = MpiNative.Api;
        int request;
        if (Polled)
            Complete(api.Iallreduce(MpiNative.InPlace, buffer, count, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld, &request), &request, "MPI_Iallreduce");
        else
            Check(api.Allreduce(MpiNative.InPlace, buffer, count, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce", Rank);
    }

    private void MpichReduceScatterSum(float* input, float* output, int countPerRank)
    {
        var api = MpiNative.Api;
        int request;
        if (Polled)
            Complete(api.IreduceScatterBlock(input, output, countPerRank, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld, &request), &request, "MPI_Ireduce_scatter_block");
        else
            Check(api.ReduceScatterBlock(input, output, countPerRank, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Reduce_scatter_block", Rank);
    }

    /// <inheritdoc />
    public void AllGather(float* input, float* output, int countPerRank)
    {
        if (SharedMemory is { } shared)
        {
            shared.AllGather(input, output, countPerRank);
            return;
        }
        var api = MpiNative.Api;
        int request;
        if (Polled)
            Complete(api.Iallgather(input, countPerRank, MpiNative.Float, output, countPerRank, MpiNative.Float, MpiNative.CommWorld, &request), &request, "MPI_Iallgather");
        else
            Check(api.Allgather(input, countPerRank, MpiNative.Float, output, countPerRank, MpiNative.Float, MpiNative.CommWorld), "MPI_Allgather", Rank);
    }

    /// <inheritdoc />
    public void Broadcast(float* buffer, int count, int root)
    {
        if (SharedMemory is { } shared)
        {
            shared.Broadcast(buffer, count, root);
            return;
        }
        var api = MpiNative.Api;
        int request;
        if (Polled)
            Complete(api.Ibcast(buffer, count, MpiNative.Float, root, MpiNative.CommWorld, &request), &request, "MPI_Ibcast");
        else
            Check(api.Bcast(buffer, count, MpiNative.Float, root, MpiNative.CommWorld), "MPI_Bcast", Rank);
    }

    /// <inheritdoc />
    public void Barrier() => BarrierOn(MpiNative.CommWorld);

    /// <summary>Terminates every rank of the job (MPI_Abort), e.g. after an unrecoverable error on this one.</summary>
    /// <remarks>Also called for an exception no code catches (registered by <see cref="InitializeWorld"/>).</remarks>
    public void Abort(int errorCode) => AbortJob(errorCode);

    /// <summary>
    /// How long a rank waits between writing why it fails and MPI_Abort. mpiexec forwards a rank's output through its
    /// process manager, and the abort kills that path at once: without the pause the reason is often lost (on a busy
    /// machine half a second was not always enough).
    /// </summary>
    private static readonly TimeSpan OutputForwardingPause = TimeSpan.FromMilliseconds(1500);

    private static void AbortJob(int errorCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Thread.Sleep(OutputForwardingPause);
        MpiNative.Api.Abort(MpiNative.CommWorld, errorCode);
    }

    /// <summary>Calls MPI_Finalize (on the initialising thread).</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _shared?.Dispose();
        if (_nodeComm != MpiNative.CommNull)
        {
            var nodeComm = _nodeComm;
            _nodeComm = MpiNative.CommNull;
            Check(MpiNative.Api.CommFree(&nodeComm), "MPI_Comm_free", Rank);
        }
        int finalized;
        if (MpiNative.Api.Finalized(&finalized) == MpiNative.Success && finalized == 0)
            Check(MpiNative.Api.Finalize(), "MPI_Finalize", Rank);
    }

    private bool Polled => PollInterval > TimeSpan.Zero && Size > 1;

    // Created at the first collective (window allocation is itself collective); null when not used.
    private MpiSharedMemoryCollectives? SharedMemory =>
        _shared ?? (UsesSharedMemory ? _shared = new MpiSharedMemoryCollectives(_nodeComm, Rank, Size, BarrierOn) : null);

    private void BarrierOn(int comm)
    {
        int request;
        if (Polled)
            Complete(MpiNative.Api.Ibarrier(comm, &request), &request, "MPI_Ibarrier");
        else
            Check(MpiNative.Api.Barrier(comm), "MPI_Barrier", Rank);
    }

    // Tests the request the call just started until it completes, sleeping between tests (MPICH progresses it in
    // MPI_Test); the sleep grows from PollInterval to MaxPollInterval while the collective is still waiting.
    private void Complete(int started, int* request, string call)
    {
        Check(started, call, Rank);
        int done = 0;
        var sleep = PollInterval;
        var longest = MaxPollInterval > PollInterval ? MaxPollInterval : PollInterval;
        while (true)
        {
            Check(MpiNative.Api.Test(request, &done, MpiNative.StatusIgnore), $"MPI_Test of {call}", Rank);
            if (done != 0)
                return;
            PreciseSleep.For(sleep);
            sleep = TimeSpan.FromTicks(Math.Min(longest.Ticks, sleep.Ticks * 3 / 2));
        }
    }

    private static void Check(int code, string call, int rank)
    {
        if (code != MpiNative.Success)
            throw new CollectiveException($"{call} failed on rank {(rank < 0 ? "?" : rank.ToString())}: {MpiNative.Describe(code)}");
    }
}
