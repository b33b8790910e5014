using System.Diagnostics;

namespace MLNetExt.Tests.Distributed;

public class CollectiveBackendTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public void AllReduce_SumAndAverage_EqualHandComputedValues()
    {
        // Rank r contributes [r, 10r, 100r]; over ranks 0,1,2 the sum is [3, 30, 300].
        var results = InProcessGroup.Run(3, backend =>
        {
            using var sum = backend.Allocate(3);
            using var average = backend.Allocate(3);
            float[] mine = [backend.Rank, 10 * backend.Rank, 100 * backend.Rank];
            mine.CopyTo(sum.Span);
            mine.CopyTo(average.Span);
            backend.AllReduce(sum, ReduceOperation.Sum);
            backend.AllReduce(average, ReduceOperation.Average);
            return (Sum: sum.Span.ToArray(), Average: average.Span.ToArray());
        }, TestTimeout);

        foreach (var (sum, average) in results)
        {
            Assert.Equal([3f, 30f, 300f], sum);
            Assert.Equal([1f, 10f, 100f], average);
        }
    }

    [Fact]
    public void AllReduce_IsBitwiseIdenticalOnAllRanksAndAcrossRuns()
    {
        // Values of very different magnitude make float addition order-sensitive: a fixed rank order is required.
        float[][] Run() => InProcessGroup.Run(4, backend =>
        {
            var random = new Random(backend.Rank);
            using var buffer = backend.Allocate(1000);
            for (var i = 0; i < buffer.Length; i++)
                buffer.Span[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 7)));
            backend.AllReduce(buffer, ReduceOperation.Sum);
            return buffer.Span.ToArray();
        }, TestTimeout);

        var first = Run();
        var second = Run();
        foreach (var result in first.Concat(second))
            Assert.Equal(first[0], result);
    }

    [Fact]
    public void PinnedRanks_RunOnOneCoreEach_TheirCommunicationThreadOnTheSameCore_AndTheCallerStaysFree()
    {
        if (!OperatingSystem.IsLinux()) return; // pinning is a documented no-op elsewhere
        var allowed = CoreAffinity.CurrentThreadCpus();
        Assert.NotEmpty(allowed);
        var results = InProcessGroup.Run(3, backend =>
        {
            int[] communicationThread = [];
            backend.RunInOrder("read affinity", () => communicationThread = CoreAffinity.CurrentThreadCpus()).Wait();
            return (Worker: CoreAffinity.CurrentThreadCpus(), Communication: communicationThread);
        }, TestTimeout, pinToCores: true);

        for (int rank = 0; rank < results.Length; rank++)
        {
            int expected = allowed[rank % allowed.Length]; // round-robin over the allowed CPUs, like -bind-to core
            Assert.Equal([expected], results[rank].Worker);
            Assert.Equal([expected], results[rank].Communication);
        }
        Assert.Equal(allowed, CoreAffinity.CurrentThreadCpus());
    }

    [Fact]
    public void ReduceScatter_GivesEachRankItsSliceOfTheAverage()
    {
        // Rank r contributes [r, r, r, r] + [0, 1, 2, 3]; average over ranks 0,1 = [0.5, 1.5, 2.5, 3.5].
        var results = InProcessGroup.Run(2, backend =>
        {
            using var input = backend.Allocate(4);
            using var output = backend.Allocate(2);
            for (var i = 0; i < 4; i++)
                input.Span[i] = backend.Rank + i;
            backend.ReduceScatter(input, output, ReduceOperation.Average);
            return output.Span.ToArray();
        }, TestTimeout);

        Assert.Equal([0.5f, 1.5f], results[0]);
        Assert.Equal([2.5f, 3.5f], results[1]);
    }

    [Fact]
    public void AllGather_ConcatenatesShardsInRankOrder_AndBroadcastCopiesTheRoot()
    {
        var results = InProcessGroup.Run(3, backend =>
        {
            using var shard = backend.Allocate(2);
            using var gathered = backend.Allocate(6);
            shard.Span.Fill(backend.Rank + 1);
            backend.AllGather(shard, gathered);
            using var broadcast = backend.Allocate(2);
            broadcast.Span.Fill(backend.Rank == 2 ? 42 : -1);
            backend.Broadcast(broadcast, root: 2);
            return (Gathered: gathered.Span.ToArray(), Broadcast: broadcast.Span.ToArray());
        }, TestTimeout);

        foreach (var (gathered, broadcast) in results)
        {
            Assert.Equal([1f, 1f, 2f, 2f, 3f, 3f], gathered);
            Assert.Equal([42f, 42f], broadcast);
        }
    }

    [Fact]
    public void Timeout_WhenAPeerNeverArrives_ThrowsNamingTheMissingRankAndOperation()
    {
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<AggregateException>(() => InProcessGroup.Run(2, backend =>
        {
            if (backend.Rank == 1)
                return 0; // this rank "dies": it never calls the collective
            using var buffer = backend.Allocate(8);
            backend.AllReduce(buffer, ReduceOperation.Sum);
            return 0;
        }, TimeSpan.FromMilliseconds(300)));

        var timeout = Assert.IsType<CollectiveTimeoutException>(error.InnerExceptions.Single());
        Assert.Contains("AllReduce", timeout.Message);
        Assert.Contains("rank(s) 1 never arrived", timeout.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"A missing peer must fail within the timeout, took {clock.Elapsed}.");
    }

    [Fact]
    public void MismatchedCollectives_FailWithAMessageNamingBothOperations()
    {
        var error = Assert.Throws<AggregateException>(() => InProcessGroup.Run(2, backend =>
        {
            using var buffer = backend.Allocate(4);
            if (backend.Rank == 0)
                backend.AllReduce(buffer, ReduceOperation.Sum);
            else
                backend.Broadcast(buffer, root: 0);
            return 0;
        }, TestTimeout));

        Assert.All(error.InnerExceptions, e => Assert.IsAssignableFrom<CollectiveException>(e));
        var messages = string.Join("\n", error.InnerExceptions.Select(e => e.Message));
        Assert.Contains("AllReduce", messages);
        Assert.Contains("Broadcast", messages);
    }

    [Fact]
    public void Throttle_AddsTheConfiguredLatencyAndBandwidthTime()
    {
        // 2 ranks, 25,000 floats = 100 kB; a ring all-reduce sends 2·(1/2)·100 kB = 100 kB per rank:
        // 100 ms at 1 MB/s, plus 100 ms latency = 200 ms. A barrier costs the latency alone.
        var link = new LinkModel(TimeSpan.FromMilliseconds(100), 1e6);
        Assert.Equal(200, link.TransferTime(LinkModel.RingBytesOnWire("AllReduce", 25_000, 2)).TotalMilliseconds, 3);

        var timings = InProcessGroup.Run(2, backend =>
        {
            using var buffer = backend.Allocate(25_000);
            backend.Barrier(); // line the ranks up first so neither waits for the other below
            var clock = Stopwatch.StartNew();
            backend.AllReduce(buffer, ReduceOperation.Sum);
            var allReduce = clock.Elapsed;
            clock.Restart();
            backend.Barrier();
            return (AllReduce: allReduce, Barrier: clock.Elapsed);
        }, TestTimeout, transport => new ThrottledTransport(transport, link));

        foreach (var (allReduce, barrier) in timings)
        {
            Assert.InRange(allReduce.TotalMilliseconds, 198, 1500);
            Assert.InRange(barrier.TotalMilliseconds, 98, 1400);
        }
    }

    [Fact]
    public void AsyncAllReduce_RunsInTheBackgroundWhileTheCallerWorks()
    {
        var link = new LinkModel(TimeSpan.FromMilliseconds(300), double.PositiveInfinity);
        var observations = InProcessGroup.Run(2, backend =>
        {
            using var buffer = backend.Allocate(4);
            buffer.Span.Fill(backend.Rank + 1);
            var clock = Stopwatch.StartNew();
            var request = backend.AllReduceAsync(buffer, ReduceOperation.Sum);
            var returnedAfter = clock.Elapsed;
            var completedEarly = request.IsCompleted;
            request.Wait();
            return (returnedAfter, completedEarly, Result: buffer.Span[0]);
        }, TestTimeout, transport => new ThrottledTransport(transport, link));

        foreach (var (returnedAfter, completedEarly, result) in observations)
        {
            Assert.True(returnedAfter < TimeSpan.FromMilliseconds(200), $"Starting the all-reduce blocked for {returnedAfter}.");
            Assert.False(completedEarly);
            Assert.Equal(3f, result);
        }
    }

    [Fact]
    public void CommunicationCpuTime_CountsWorkOnTheCommunicationThreadButNotSleep()
    {
        // The kernel's own account of the spinning thread (/proc/thread-self/schedstat, ns on CPU) is the reference:
        // on a loaded machine 150 ms of spinning may get far less CPU, so wall time cannot be.
        var transport = (SpinOrSleepTransport?)null;
        var (spun, slept) = InProcessGroup.Run(1, backend =>
        {
            using var buffer = backend.Allocate(4);
            var before = backend.CommunicationCpuTime;
            backend.AllReduce(buffer, ReduceOperation.Sum); // the transport spins 150 ms in it
            var afterSpin = backend.CommunicationCpuTime;
            backend.Barrier(); // the transport sleeps 150 ms in it
            return (afterSpin - before, backend.CommunicationCpuTime - afterSpin);
        }, TestTimeout, inner => transport = new SpinOrSleepTransport(inner))[0];
        var kernel = transport!.SpinCpu;
        Assert.True(kernel > TimeSpan.FromMilliseconds(10), $"the kernel saw only {kernel.TotalMilliseconds:0} ms of spinning");
        Assert.True(Math.Abs((spun - kernel).TotalMilliseconds) < 15,
            $"spinning: backend counted {spun.TotalMilliseconds:0} ms of CPU, the kernel {kernel.TotalMilliseconds:0} ms");
        Assert.True(slept < TimeSpan.FromMilliseconds(15), $"150 ms of sleep counted as {slept.TotalMilliseconds:0} ms of CPU");
    }

    // Busy-waits in AllReduceSum and sleeps in Barrier, like an MPI library spinning vs a throttled link sleeping.
    private sealed unsafe class SpinOrSleepTransport(ICollectiveTransport inner) : ICollectiveTransport
    {
        public int Rank => inner.Rank;
        public int Size => inner.Size;
        public string Name => "spin-or-sleep";
        public TimeSpan SpinCpu { get; private set; }
        public void AllReduceSum(float* buffer, int count)
        {
            var start = OnCpu();
            var clock = Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < 150) Thread.SpinWait(100);
            SpinCpu = OnCpu() - start;
            inner.AllReduceSum(buffer, count);
        }
        private static TimeSpan OnCpu() =>
            TimeSpan.FromTicks(long.Parse(File.ReadAllText("/proc/thread-self/schedstat").Split(' ')[0]) / 100);
        public void ReduceScatterSum(float* input, float* output, int countPerRank) => inner.ReduceScatterSum(input, output, countPerRank);
        public void AllGather(float* input, float* output, int countPerRank) => inner.AllGather(input, output, countPerRank);
        public void Broadcast(float* buffer, int count, int root) => inner.Broadcast(buffer, count, root);
        public void Barrier()
        {
            Thread.Sleep(150);
            inner.Barrier();
        }
        public void Dispose() => inner.Dispose();
    }
}
