namespace MLNetExt;

/// <summary>
/// A group of ranks that are threads of this process; creates one <see cref="InProcessTransport"/> per rank.
/// </summary>
/// <remarks>
/// Reductions add the ranks' contributions in rank order 0, 1, …, N−1 and every rank copies the same result,
/// so results are bitwise reproducible from run to run and identical on all ranks.
/// </remarks>
public sealed unsafe class InProcessGroup
{
    private readonly object _gate = new();
    private readonly Contribution?[] _slots;
    private readonly TimeSpan _timeout;
    private float[] _scratch = [];
    private long _generation;
    private int _arrived;
    private string? _fault;

    /// <summary>Creates a group of <paramref name="size"/> ranks whose rendezvous wait at most <paramref name="timeout"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="size"/> is not positive.</exception>
    public InProcessGroup(int size, TimeSpan? timeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        _slots = new Contribution?[size];
        _timeout = timeout ?? CollectiveBackend.DefaultTimeout;
    }

    /// <summary>Number of ranks.</summary>
    public int Size { get; }

    /// <summary>The transport for <paramref name="rank"/>; create exactly one per rank.</summary>
    public InProcessTransport CreateTransport(int rank)
    {
        if ((uint)rank >= (uint)Size)
            throw new ArgumentOutOfRangeException(nameof(rank), $"Rank {rank} is not in a group of {Size}.");
        return new InProcessTransport(this, rank);
    }

    /// <summary>
    /// Runs <paramref name="worker"/> on <paramref name="size"/> threads, each with its own backend, and returns
    /// the per-rank results in rank order. The first worker exception (by rank) is rethrown after all threads end.
    /// </summary>
    /// <param name="size">Number of ranks (threads).</param>
    /// <param name="worker">The per-rank body; receives that rank's backend.</param>
    /// <param name="timeout">Collective timeout; <see cref="CollectiveBackend.DefaultTimeout"/> when null.</param>
    /// <param name="wrapTransport">Optional decorator for each rank's transport, e.g. a <see cref="ThrottledTransport"/>.</param>
    /// <param name="pinToCores">
    /// Pin rank r's thread, and the communication thread it creates, to the (r mod cores)-th allowed CPU, as
    /// <c>mpiexec -bind-to core</c> does for MPI ranks (Linux; ignored elsewhere).
    /// </param>
    public static T[] Run<T>(int size, Func<ICollectiveBackend, T> worker, TimeSpan? timeout = null,
        Func<ICollectiveTransport, ICollectiveTransport>? wrapTransport = null, bool pinToCores = false)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var group = new InProcessGroup(size, timeout);
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                if (pinToCores)
                    CoreAffinity.PinCurrentThread(rank);
                ICollectiveTransport transport = group.CreateTransport(rank);
                if (wrapTransport is not null)
                    transport = wrapTransport(transport);
                using var backend = new CollectiveBackend(transport, timeout);
                if (pinToCores) // .NET gives new threads the process's mask, not their creator's: pin the communication thread too
                    backend.RunInOrder("pin to a core", () => CoreAffinity.PinCurrentThread(rank)).Wait();
                results[rank] = worker(backend);
            }
            catch (Exception error)
            {
                errors[rank] = error;
                group.Abandon(rank, error); // peers waiting for this rank fail now instead of at the timeout
            }
        }) { Name = $"in-process rank {rank}" }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var first = errors.Select((e, rank) => (e, rank)).FirstOrDefault(x => x.e is not null);
        if (first.e is not null)
            throw new AggregateException($"In-process rank {first.rank} failed: {first.e.Message}", errors.Where(e => e is not null)!);
        return results;
    }

    internal void Exchange(int rank, string operation, int count, float* input, Action<Contribution[]>? combine, Action<Contribution[]> consume)
    {
        var contributions = Rendezvous(rank, new Contribution(operation, count, input), combine);
        consume(contributions);
        // Second rendezvous: nobody may start the next operation (and overwrite the scratch or its input)
        // until every rank has consumed this one.
        Rendezvous(rank, new Contribution(operation + " (departure)", count, null), combine: null);
    }

    internal float[] Scratch(int length)
    {
        if (_scratch.Length < length)
            _scratch = new float[length];
        return _scratch;
    }

    private Contribution[] Rendezvous(int rank, Contribution mine, Action<Contribution[]>? combine)
    {
        lock (_gate)
        {
            ThrowIfFaulted(rank, mine.Operation);
            _slots[rank] = mine;
            var generation = _generation;
            if (++_arrived == Size)
            {
                var all = _slots.Select(s => s!).ToArray();
                var mismatch = all.FirstOrDefault(c => c.Operation != mine.Operation || c.Count != mine.Count);
                if (mismatch is not null)
                    Fail($"ranks issued different collectives: rank {rank} called {mine.Operation} of {mine.Count} floats, " +
                         $"rank {Array.IndexOf(all, mismatch)} called {mismatch.Operation} of {mismatch.Count} floats");
                combine?.Invoke(all);
                _lastCompleted = all;
                Array.Clear(_slots);
                _arrived = 0;
                _generation++;
                Monitor.PulseAll(_gate);
                return all;
            }

            var deadline = DateTime.UtcNow + _timeout;
            while (_generation == generation)
            {
                ThrowIfFaulted(rank, mine.Operation);
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    var missing = Enumerable.Range(0, Size).Where(r => _slots[r] is null);
                    Fail($"rank {rank} waited {_timeout.TotalSeconds:0.###} s in {mine.Operation} but rank(s) " +
                         $"{string.Join(", ", missing)} never arrived (dead, stalled, or on another code path)", timedOut: true);
                }
                Monitor.Wait(_gate, remaining);
            }
            return _lastCompleted!;
        }
    }

    // The contributions of the rendezvous that just completed, kept for the ranks woken by PulseAll.
    private Contribution[]? _lastCompleted;

    // A rank's thread ended with an error: it will never arrive again, so every present and future rendezvous fails.
    private void Abandon(int rank, Exception error)
    {
        lock (_gate)
        {
            _fault ??= $"rank {rank} stopped with an error ({error.Message})";
            Monitor.PulseAll(_gate);
        }
    }

    private void Fail(string message, bool timedOut = false)
    {
        _fault = message;
        Monitor.PulseAll(_gate);
        throw timedOut ? new CollectiveTimeoutException($"In-process group: {message}.") : new CollectiveException($"In-process group: {message}.");
    }

    private void ThrowIfFaulted(int rank, string operation)
    {
        if (_fault is not null)
            throw new CollectiveException($"In-process group: rank {rank} cannot run {operation}: the group failed earlier: {_fault}.");
    }

    /// <summary>What one rank brought to a rendezvous.</summary>
    internal sealed class Contribution(string operation, int count, float* input)
    {
        public string Operation { get; } = operation;
        public int Count { get; } = count;
        public float* Input { get; } = input;
    }
}

/// <summary>One rank's view of an <see cref="InProcessGroup"/>; use it inside a <see cref="CollectiveBackend"/>.</summary>
public sealed unsafe class InProcessTransport : ICollectiveTransport
{
    private readonly InProcessGroup _group;

    internal InProcessTransport(InProcessGroup group, int rank)
    {
        _group = group;
        Rank = rank;
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size => _group.Size;

    /// <inheritdoc />
    public string Name => "in-process";

    /// <inheritdoc />
    public void AllReduceSum(float* buffer, int count)
    {
        _group.Exchange(Rank, "AllReduce", count, buffer,
            all => SumInRankOrder(all, count),
            _ => new ReadOnlySpan<float>(_group.Scratch(count), 0, count).CopyTo(new Span<float>(buffer, count)));
    }

    /// <inheritdoc />
    public void ReduceScatterSum(float* input, float* output, int countPerRank)
    {
        _group.Exchange(Rank, "ReduceScatter", countPerRank * Size, input,
            all => SumInRankOrder(all, countPerRank * Size),
            _ => new ReadOnlySpan<float>(_group.Scratch(countPerRank * Size), Rank * countPerRank, countPerRank)
                .CopyTo(new Span<float>(output, countPerRank)));
    }

    /// <inheritdoc />
    public void AllGather(float* input, float* output, int countPerRank)
    {
        _group.Exchange(Rank, "AllGather", countPerRank, input, combine: null, all =>
        {
            for (var r = 0; r < all.Length; r++)
                new ReadOnlySpan<float>(all[r].Input, countPerRank).CopyTo(new Span<float>(output + (long)r * countPerRank, countPerRank));
        });
    }

    /// <inheritdoc />
    public void Broadcast(float* buffer, int count, int root)
    {
        _group.Exchange(Rank, $"Broadcast(root {root})", count, buffer, combine: null, all =>
        {
            if (Rank != root)
                new ReadOnlySpan<float>(all[root].Input, count).CopyTo(new Span<float>(buffer, count));
        });
    }

    /// <inheritdoc />
    public void Barrier() => _group.Exchange(Rank, "Barrier", 0, null, combine: null, _ => { });

    /// <inheritdoc />
    public void Dispose() { }

    private void SumInRankOrder(InProcessGroup.Contribution[] all, int count)
    {
        Span<nint> sources = stackalloc nint[all.Length];
        for (var r = 0; r < all.Length; r++)
            sources[r] = (nint)all[r].Input;
        fixed (float* sum = _group.Scratch(count))
            RankOrderSum.Into(sum, sources, 0, count);
    }
}
