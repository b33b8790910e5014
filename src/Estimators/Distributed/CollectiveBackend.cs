using System.Collections.Concurrent;

namespace MLNetExt;

/// <summary>
/// <see cref="ICollectiveBackend"/> over a blocking <see cref="ICollectiveTransport"/>, with a dedicated
/// communication thread that runs every collective in issue order.
/// </summary>
/// <remarks>
/// <para>Why a thread: MPICH (ch4/UCX, as shipped by Debian) makes no progress on a non-blocking
/// <c>MPI_Iallreduce</c> unless some thread is inside the library; polling <c>MPI_Test</c> between training steps
/// did not overlap on the probe machine, while a dedicated thread hid ~85 % of a 64 MiB all-reduce (see
/// docs/decisions/002-co2-mpi-polling-and-binding.md). That thread now tests the request every fraction of a millisecond, sleeping in between
/// (<see cref="MpiTransport.PollInterval"/>). Running every operation (blocking ones too) through the same
/// FIFO keeps the per-rank order of collectives identical on all ranks, as MPI requires.</para>
/// <para>Once an operation times out or fails the backend is faulted: later operations fail at once with the
/// original cause, because the group is no longer in a consistent state.</para>
/// </remarks>
public sealed unsafe class CollectiveBackend : ICollectiveBackend
{
    /// <summary>Default bound on how long a collective may wait for peers.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    private readonly ICollectiveTransport _transport;
    private readonly BlockingCollection<(CollectiveRequest Request, Action Work)> _queue = new();
    private readonly Thread _thread;
    private long _sequence;
    private long _cpuTicks;
    private volatile string? _fault;
    private volatile string? _failedHere;

    /// <summary>Wraps <paramref name="transport"/>; the backend owns and disposes it.</summary>
    /// <param name="transport">The wire operations.</param>
    /// <param name="timeout">Bound for every collective; <see cref="DefaultTimeout"/> when null.</param>
    public CollectiveBackend(ICollectiveTransport transport, TimeSpan? timeout = null)
    {
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        Timeout = timeout ?? DefaultTimeout;
        if (Timeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(timeout), "The collective timeout must be positive.");
        // Background: a thread stuck inside a native collective after a peer died must not keep the process alive.
        _thread = new Thread(RunQueue) { IsBackground = true, Name = $"collectives rank {transport.Rank}" };
        _thread.Start();
    }

    /// <inheritdoc />
    public int Rank => _transport.Rank;

    /// <inheritdoc />
    public int Size => _transport.Size;

    /// <inheritdoc />
    public string Name => _transport.Name;

    /// <inheritdoc />
    public TimeSpan Timeout { get; }

    /// <inheritdoc />
    /// <remarks>The communication thread's CPU time, read after each operation (Linux; zero elsewhere).</remarks>
    public TimeSpan CommunicationCpuTime => TimeSpan.FromTicks(Interlocked.Read(ref _cpuTicks));

    /// <inheritdoc />
    public CollectiveBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        // On the communication thread: a transport's allocation may itself be collective (shared memory between ranks),
        // and it must not interleave with the collectives that thread is running.
        CollectiveBuffer? buffer = null;
        Enqueue($"Allocate({length} floats)", () => buffer = _transport.Allocate(length)).Wait();
        return buffer!;
    }

    /// <inheritdoc />
    public void AllReduce(CollectiveBuffer buffer, ReduceOperation operation) => AllReduceAsync(buffer, operation).Wait();

    /// <inheritdoc />
    public CollectiveRequest AllReduceAsync(CollectiveBuffer buffer, ReduceOperation operation)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        return Enqueue($"AllReduce({operation}) of {buffer.Length} floats",
            () => _transport.AllReduceSum(buffer.Pointer, buffer.Length, ScaleOf(operation)));
    }

    /// <inheritdoc />
    public void ReduceScatter(CollectiveBuffer input, CollectiveBuffer output, ReduceOperation operation) =>
        ReduceScatterAsync(input, output, operation).Wait();

    /// <inheritdoc />
    public CollectiveRequest ReduceScatterAsync(CollectiveBuffer input, CollectiveBuffer output, ReduceOperation operation)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        RequireShardedLength(input, output, nameof(input));
        return Enqueue($"ReduceScatter({operation}) of {input.Length} floats",
            () => _transport.ReduceScatterSum(input.Pointer, output.Pointer, output.Length, ScaleOf(operation)));
    }

    /// <inheritdoc />
    public void AllGather(CollectiveBuffer shard, CollectiveBuffer output) => AllGatherAsync(shard, output).Wait();

    /// <inheritdoc />
    public CollectiveRequest AllGatherAsync(CollectiveBuffer shard, CollectiveBuffer output)
    {
        ArgumentNullException.ThrowIfNull(shard);
        ArgumentNullException.ThrowIfNull(output);
        RequireShardedLength(output, shard, nameof(output));
        return Enqueue($"AllGather of {shard.Length} floats per rank",
            () => _transport.AllGather(shard.Pointer, output.Pointer, shard.Length));
    }

    /// <inheritdoc />
    public CollectiveRequest RunInOrder(string description, Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Enqueue(description, work);
    }

    /// <inheritdoc />
    public void Broadcast(CollectiveBuffer buffer, int root)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if ((uint)root >= (uint)Size)
            throw new ArgumentOutOfRangeException(nameof(root), $"Root {root} is not a rank of a group of {Size}.");
        Enqueue($"Broadcast from rank {root} of {buffer.Length} floats",
            () => _transport.Broadcast(buffer.Pointer, buffer.Length, root)).Wait();
    }

    /// <inheritdoc />
    public void Barrier() => Enqueue("Barrier", _transport.Barrier).Wait();

    /// <inheritdoc />
    public void Fail(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        _failedHere ??= reason;
        _fault ??= $"rank {Rank} failed: {reason}";
    }

    /// <summary>
    /// Stops the communication thread and disposes the transport (skipped when faulted, so a dead peer cannot block
    /// shutdown). After <see cref="Fail"/> the job is ended instead (<see cref="ICollectiveTransport.Abort"/>), with the
    /// reason on standard error: peers blocked in a collective would otherwise wait for their timeout.
    /// </summary>
    public void Dispose()
    {
        if (_queue.IsAddingCompleted)
            return;
        _queue.CompleteAdding();
        if (_failedHere is { } reason)
        {
            Console.Error.WriteLine($"rank {Rank}/{Size} ({Name}) failed and ends the job: {reason}");
            Console.Error.Flush();
            _transport.Abort(1);
        }
        // A faulted group may have the thread stuck inside a native call for good: do not wait the full timeout again.
        var stopped = _thread.Join(_fault is null ? Timeout : TimeSpan.FromSeconds(1));
        if (stopped && _fault is null)
            _transport.Dispose();
    }

    private CollectiveRequest Enqueue(string operation, Action work)
    {
        ObjectDisposedException.ThrowIf(_queue.IsAddingCompleted, this);
        var sequence = Interlocked.Increment(ref _sequence);
        var request = new CollectiveRequest($"rank {Rank}/{Size} ({Name}): {operation} (#{sequence})", Timeout, message => _fault ??= message);
        if (_fault is { } fault)
        {
            request.Complete(new CollectiveException($"{request.Description} was not started: the group failed earlier: {fault}"));
            return request;
        }
        _queue.Add((request, work));
        return request;
    }

    private void RunQueue()
    {
        foreach (var (request, work) in _queue.GetConsumingEnumerable())
        {
            if (_fault is { } fault)
            {
                request.Complete(new CollectiveException($"{request.Description} was not started: the group failed earlier: {fault}"));
                continue;
            }
            try
            {
                work();
                Interlocked.Exchange(ref _cpuTicks, ThreadCpuClock.Current().Ticks);
                request.Complete(null);
            }
            catch (Exception error)
            {
                var reported = error as CollectiveException
                    ?? new CollectiveException($"{request.Description} failed: {error.Message}", error);
                _fault = reported.Message;
                request.Complete(reported);
            }
        }
    }

    private void RequireShardedLength(CollectiveBuffer whole, CollectiveBuffer shard, string parameter)
    {
        if ((long)shard.Length * Size != whole.Length)
            throw new ArgumentException(
                $"The full buffer must hold Size × shard = {Size} × {shard.Length} floats, but it holds {whole.Length}.", parameter);
    }

    private float ScaleOf(ReduceOperation operation) => operation == ReduceOperation.Average ? 1f / Size : 1f;
}
