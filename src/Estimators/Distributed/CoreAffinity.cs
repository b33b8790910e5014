namespace MLNetExt;

/// <summary>Which CPUs the calling thread may run on (Linux <c>sched_getaffinity</c>/<c>sched_setaffinity</c>).</summary>
/// <remarks>
/// Why: in-process workers are threads of one process, so <c>mpiexec -bind-to core</c> has no counterpart; when every core
/// runs a training thread, a worker that the scheduler moves or doubles up with another stalls the whole round. Pinning
/// a worker thread and its communication thread to the same core does what binding does for an MPI rank. Each thread
/// pins itself: .NET starts new threads with the process's mask, not their creator's. Elsewhere this is a no-op.
/// </remarks>
internal static unsafe class CoreAffinity
{
    private const int MaskBytes = 128; // 1024 CPUs, glibc's cpu_set_t

    private static readonly delegate* unmanaged<int, nint, byte*, int> GetAffinity =
        (delegate* unmanaged<int, nint, byte*, int>)LibC.Export("sched_getaffinity");

    private static readonly delegate* unmanaged<int, nint, byte*, int> SetAffinity =
        (delegate* unmanaged<int, nint, byte*, int>)LibC.Export("sched_setaffinity");

    /// <summary>The CPUs the calling thread may run on, ascending; empty when the platform does not tell.</summary>
    public static int[] CurrentThreadCpus()
    {
        var mask = stackalloc byte[MaskBytes];
        if (GetAffinity == null || GetAffinity(0, MaskBytes, mask) != 0) // pid 0 = the calling thread
            return Array.Empty<int>();
        var cpus = new List<int>();
        for (int cpu = 0; cpu < MaskBytes * 8; cpu++)
            if ((mask[cpu / 8] & (1 << (cpu % 8))) != 0)
                cpus.Add(cpu);
        return cpus.ToArray();
    }

    /// <summary>
    /// Pins the calling thread to the <paramref name="slot"/>-th CPU (modulo their number) of those it may run on now, so
    /// ranks 0, 1, 2, … spread round-robin over the allowed cores like <c>-bind-to core</c>. Returns the CPU, or -1 when
    /// pinning is not available here.
    /// </summary>
    public static int PinCurrentThread(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        var allowed = CurrentThreadCpus();
        if (allowed.Length == 0 || SetAffinity == null)
            return -1;
        int cpu = allowed[slot % allowed.Length];
        var mask = stackalloc byte[MaskBytes];
        new Span<byte>(mask, MaskBytes).Clear();
        mask[cpu / 8] = (byte)(1 << (cpu % 8));
        if (SetAffinity(0, MaskBytes, mask) != 0)
            throw new InvalidOperationException($"Could not pin worker thread {slot} to CPU {cpu} (sched_setaffinity failed). Set PinWorkersToCores = false.");
        return cpu;
    }
}
