using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>
/// Sub-millisecond sleeping for communication threads that must not take CPU from the training threads.
/// </summary>
/// <remarks>
/// <c>Thread.Sleep</c> only takes whole milliseconds, and yielding in a loop for the last stretch makes the thread
/// runnable all the time: on a machine whose cores are all busy training, every yield preempts a training thread.
/// On Linux the C library's <c>nanosleep</c> sleeps for the exact remainder (accurate to ~0.1 ms); elsewhere the
/// remainder is slept in whole milliseconds, rounded up.
/// </remarks>
internal static unsafe class PreciseSleep
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public nint Seconds;
        public nint Nanoseconds;
    }

    private static readonly delegate* unmanaged<TimeSpec*, TimeSpec*, int> NanoSleep =
        (delegate* unmanaged<TimeSpec*, TimeSpec*, int>)LibC.Export("nanosleep");

    /// <summary>Sleeps for <paramref name="duration"/> (nothing when it is not positive).</summary>
    public static void For(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
            return;
        if (NanoSleep == null)
        {
            Thread.Sleep(TimeSpan.FromMilliseconds(Math.Ceiling(duration.TotalMilliseconds)));
            return;
        }
        var ticks = duration.Ticks; // 100 ns each
        var request = new TimeSpec { Seconds = (nint)(ticks / TimeSpan.TicksPerSecond), Nanoseconds = (nint)(ticks % TimeSpan.TicksPerSecond * 100) };
        NanoSleep(&request, null); // an early return (signal) is harmless: callers re-check their deadline
    }

    /// <summary>Sleeps until <paramref name="clock"/> shows at least <paramref name="target"/>.</summary>
    public static void Until(Stopwatch clock, TimeSpan target)
    {
        for (var remaining = target - clock.Elapsed; remaining > TimeSpan.Zero; remaining = target - clock.Elapsed)
            For(remaining);
    }
}
