using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>CPU time consumed by the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>).</summary>
/// <remarks>
/// Why: a communication thread that spins inside an MPI library takes cores from training without showing up as
/// waiting; its CPU time is what reveals it. .NET has no per-thread CPU clock, so libc's <c>clock_gettime</c> is bound
/// at run time; elsewhere the clock reads zero.
/// </remarks>
internal static unsafe class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    private static readonly delegate* unmanaged<int, TimeSpec*, int> ClockGetTime = (delegate* unmanaged<int, TimeSpec*, int>)LibC.Export("clock_gettime");

    /// <summary>CPU time of the calling thread so far (zero when unavailable).</summary>
    public static TimeSpan Current()
    {
        TimeSpec now;
        if (ClockGetTime == null || ClockGetTime(ClockThreadCpuTimeId, &now) != 0)
            return TimeSpan.Zero;
        return TimeSpan.FromTicks(now.Seconds * TimeSpan.TicksPerSecond + now.Nanoseconds / 100);
    }
}
