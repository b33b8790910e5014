namespace MLNetExt;

/// <summary>
/// Sum-reductions, gathers and broadcasts among ranks of one node through MPI-3 shared-memory windows
/// (<c>MPI_Win_allocate_shared</c>), synchronised by the node communicator's barrier.
/// </summary>
/// <remarks>
/// <para>Why: MPICH's shared-memory collectives move a 2 MB all-reduce through small copy cells, several copies per
/// element, and on a node whose cores all train, that CPU time and the memory traffic come out of training.</para>
/// <para>Buffers from <see cref="Allocate"/> live in a window of their own, so a collective on them works in place on
/// every rank: rank r sums slice r straight from every rank's buffer (in rank order 0…N−1, the same
/// <see cref="RankOrderSum"/> as the in-process transport, with the averaging fused into the last addition) and writes the
/// result into every rank's buffer. Per rank and all-reduce that is one read of the inputs and one write of the result —
/// no copy in or out. Other buffers go through a staging window: two input areas (alternated between consecutive
/// collectives, so a rank may start the next one while slower peers still read the previous inputs) and a result area.</para>
/// <para>Barriers bracket every phase that reads what peers wrote; <c>MPI_Win_sync</c> around each barrier orders the
/// plain stores and loads under MPI's unified memory model (each window stays in one <c>MPI_Win_lock_all</c> epoch).
/// All ranks call the collectives and allocations in the same order with the same counts, as MPI requires.</para>
/// </remarks>
internal sealed unsafe class MpiSharedMemoryCollectives : IDisposable
{
    private const int AlignFloats = 16; // 64-byte slices keep the SIMD sums aligned
    private readonly int _comm;
    private readonly Action<int> _barrier;
    private readonly nint[] _segments;
    private readonly nint[] _inputs;
    private readonly nint[] _peers;
    private readonly List<Allocation> _allocations = [];
    private int _window = WindowNull; // the staging window
    private long _capacity; // floats per area
    private int _parity;
    private const int WindowNull = 0x20000000; // MPICH ABI: MPI_WIN_NULL

    /// <param name="comm">A communicator whose ranks all share this node's memory.</param>
    /// <param name="rank">This rank in <paramref name="comm"/>.</param>
    /// <param name="size">Ranks in <paramref name="comm"/>.</param>
    /// <param name="barrier">Barrier over <paramref name="comm"/> (the transport's polled or blocking one).</param>
    public MpiSharedMemoryCollectives(int comm, int rank, int size, Action<int> barrier)
    {
        _comm = comm;
        Rank = rank;
        Size = size;
        _barrier = barrier;
        _segments = new nint[size];
        _inputs = new nint[size];
        _peers = new nint[size];
    }

    // A buffer handed out by Allocate: its window and every rank's copy of it.
    private sealed record Allocation(int Window, nint[] Segments, long Length);

    public int Rank { get; }

    public int Size { get; }

    /// <summary>A buffer in a new shared window (collective over the node communicator).</summary>
    public CollectiveBuffer Allocate(int length)
    {
        var segments = new nint[Size];
        var window = AllocateWindow(Math.Max(1, length), segments);
        _allocations.Add(new Allocation(window, segments, length));
        return CollectiveBuffer.Over((float*)segments[Rank], length);
    }

    public void AllReduceSum(float* buffer, int count, float scale)
    {
        var (start, length) = Slice(count, Rank);
        if (Find(buffer, count) is { } window)
        {
            // In place: slice r is summed into rank 0's buffer, then copied into the others'.
            Synchronise(window);
            var result = (float*)_peers[0] + start;
            RankOrderSum.Into(result, _peers, start, length, scale);
            for (var r = 1; r < Size; r++)
                new ReadOnlySpan<float>(result, length).CopyTo(new Span<float>((float*)_peers[r] + start, length));
            Synchronise(window);
            return;
        }
        var inputs = Publish(buffer, count);
        Synchronise(_window);
        RankOrderSum.Into(Result(Rank) + start, inputs, start, length, scale);
        Synchronise(_window);
        for (var r = 0; r < Size; r++)
        {
            var (s, l) = Slice(count, r);
            new ReadOnlySpan<float>(Result(r) + s, l).CopyTo(new Span<float>(buffer + s, l));
        }
    }

    public void ReduceScatterSum(float* input, float* output, int countPerRank, float scale)
    {
        var offset = (long)Rank * countPerRank;
        if (Find(input, countPerRank * Size) is { } window)
        {
            Synchronise(window);
            RankOrderSum.Into(output, _peers, offset, countPerRank, scale);
            Synchronise(window); // the peers have read this rank's input before it may change
            return;
        }
        var inputs = Publish(input, countPerRank * Size);
        Synchronise(_window);
        RankOrderSum.Into(output, inputs, offset, countPerRank, scale);
    }

    public void AllGather(float* input, float* output, int countPerRank)
    {
        if (Find(output, countPerRank * Size) is { } window)
        {
            Synchronise(window); // every rank is in the call: its output may be written
            for (var r = 0; r < Size; r++)
                new ReadOnlySpan<float>(input, countPerRank).CopyTo(new Span<float>((float*)_peers[r] + (long)Rank * countPerRank, countPerRank));
            Synchronise(window);
            return;
        }
        var inputs = Publish(input, countPerRank);
        Synchronise(_window);
        for (var r = 0; r < Size; r++)
            new ReadOnlySpan<float>((float*)inputs[r], countPerRank).CopyTo(new Span<float>(output + (long)r * countPerRank, countPerRank));
    }

    public void Broadcast(float* buffer, int count, int root)
    {
        if (Find(buffer, count) is { } window)
        {
            Synchronise(window);
            if (Rank != root)
                new ReadOnlySpan<float>((float*)_peers[root], count).CopyTo(new Span<float>(buffer, count));
            Synchronise(window);
            return;
        }
        var inputs = Publish(Rank == root ? buffer : null, count);
        Synchronise(_window);
        if (Rank != root)
            new ReadOnlySpan<float>((float*)inputs[root], count).CopyTo(new Span<float>(buffer, count));
    }

    // The window holding [pointer, pointer + count) of this rank, with every rank's address of that range in _peers.
    private int? Find(float* pointer, long count)
    {
        foreach (var a in _allocations)
        {
            var offset = pointer - (float*)a.Segments[Rank];
            if (offset < 0 || offset + count > a.Length)
                continue;
            for (var r = 0; r < Size; r++)
                _peers[r] = (nint)((float*)a.Segments[r] + offset);
            return a.Window;
        }
        return null;
    }

    /// <summary>Frees the windows, and with them the buffers from <see cref="Allocate"/> (collective: every rank calls it,
    /// before MPI_Finalize).</summary>
    public void Dispose()
    {
        FreeWindow();
        foreach (var a in _allocations)
            Free(a.Window);
        _allocations.Clear();
    }

    // Copies this rank's contribution into its current input area and returns every rank's current input area.
    private ReadOnlySpan<nint> Publish(float* contribution, int count)
    {
        EnsureCapacity(count);
        _parity ^= 1;
        for (var r = 0; r < Size; r++)
            _inputs[r] = _segments[r] + (nint)(_parity * _capacity * sizeof(float));
        if (contribution != null)
            new ReadOnlySpan<float>(contribution, count).CopyTo(new Span<float>((float*)_inputs[Rank], count));
        return _inputs;
    }

    private float* Result(int rank) => (float*)_segments[rank] + 2 * _capacity;

    // Slice r of a count-element reduction: aligned, as equal as possible, possibly empty for the last ranks.
    private (long Start, int Length) Slice(int count, int rank)
    {
        var per = ((long)count + Size - 1) / Size;
        per = (per + AlignFloats - 1) / AlignFloats * AlignFloats;
        var start = Math.Min(rank * per, count);
        return (start, (int)Math.Min(per, count - start));
    }

    private void Synchronise(int window)
    {
        Check(MpiNative.Api.WinSync(window), "MPI_Win_sync");
        _barrier(_comm);
        Check(MpiNative.Api.WinSync(window), "MPI_Win_sync");
    }

    // Grows the staging window (three areas of at least count floats) at the first collective that needs more.
    private void EnsureCapacity(int count)
    {
        if (count <= _capacity)
            return;
        FreeWindow();
        var capacity = ((long)count + AlignFloats - 1) / AlignFloats * AlignFloats;
        _window = AllocateWindow(3 * capacity, _segments);
        _capacity = capacity;
    }

    // A shared window of floats on every rank; fills every rank's segment address and opens the access epoch.
    private int AllocateWindow(long floats, nint[] segments)
    {
        var api = MpiNative.Api;
        void* mine;
        int window;
        Check(api.WinAllocateShared(floats * sizeof(float), sizeof(float), MpiNative.InfoNull, _comm, &mine, &window), "MPI_Win_allocate_shared");
        for (var r = 0; r < Size; r++)
        {
            long bytes;
            int unit;
            void* segment;
            Check(api.WinSharedQuery(window, r, &bytes, &unit, &segment), "MPI_Win_shared_query");
            segments[r] = (nint)segment;
        }
        Check(api.WinLockAll(MpiNative.ModeNoCheck, window), "MPI_Win_lock_all");
        return window;
    }

    private void FreeWindow()
    {
        if (_window == WindowNull)
            return;
        Free(_window);
        _window = WindowNull;
        _capacity = 0;
    }

    private void Free(int window)
    {
        Check(MpiNative.Api.WinUnlockAll(window), "MPI_Win_unlock_all");
        Check(MpiNative.Api.WinFree(&window), "MPI_Win_free");
    }

    private void Check(int code, string call)
    {
        if (code != MpiNative.Success)
            throw new CollectiveException($"{call} (node shared memory) failed on node rank {Rank}: {MpiNative.Describe(code)}");
    }
}
