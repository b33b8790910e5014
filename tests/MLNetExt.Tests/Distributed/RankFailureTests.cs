using System.Diagnostics;

namespace MLNetExt.Tests.Distributed;

/// <summary>A rank that fails on its own (a damaged checkpoint) ends the job promptly instead of leaving peers in a collective.</summary>
public partial class MpiSmokeTests
{
    [MpiFact]
    public void ARankWithADamagedCheckpointAbortsTheJobWithinSecondsNotAtTheTimeout()
    {
        var dir = Path.Combine(Path.GetTempPath(), "co2-mpi-damaged-" + Guid.NewGuid().ToString("N"));
        try
        {
            const string run = "--algorithm co2 --tau 4 --print-every 1000 --timeout-s 60";
            RunCo2Mpi($"{run} --steps 8 --checkpoint-dir {dir} --checkpoint-every 8");
            var state = Path.Combine(dir, "co2-step0000000008-rank1-of2.ckpt");
            var bytes = File.ReadAllBytes(state);
            bytes[^5] ^= 0x40;
            File.WriteAllBytes(state, bytes);

            var watch = Stopwatch.StartNew();
            var (exitCode, stdout, stderr) = StartMpi($"{run} --steps 16 --checkpoint-dir {dir} --checkpoint-every 8");
            // Without the abort, the job would end only when rank 0's 60 s collective timeout fired.
            Assert.InRange(watch.Elapsed.TotalSeconds, 0, 20);
            Assert.NotEqual(0, exitCode);
            var output = stdout + stderr;
            Assert.True(output.Split('\n').Any(line => line.Contains("aborting the job") && line.Contains("does not match its manifest") && line.Contains(state)),
                $"No line names the damaged checkpoint (mpiexec exit code {exitCode} after {watch.Elapsed.TotalSeconds:F1} s).\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}

public sealed unsafe class RankFailureTests
{
    private sealed class RecordingTransport : ICollectiveTransport
    {
        public int Aborted = -1;
        public bool Disposed;
        public int Rank => 0;
        public int Size => 2;
        public string Name => "recording";
        public void AllReduceSum(float* buffer, int count) { }
        public void ReduceScatterSum(float* input, float* output, int countPerRank) { }
        public void AllGather(float* input, float* output, int countPerRank) { }
        public void Broadcast(float* buffer, int count, int root) { }
        public void Barrier() { }
        public void Abort(int errorCode) => Aborted = errorCode;
        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void AFailedRankAbortsInsteadOfTheCollectiveShutdownAndRefusesLaterCollectives()
    {
        var healthy = new RecordingTransport();
        new CollectiveBackend(healthy, TimeSpan.FromSeconds(5)).Dispose();
        Assert.Equal((-1, true), (healthy.Aborted, healthy.Disposed)); // normal end: the collective shutdown, no abort

        var failing = new RecordingTransport();
        var backend = new CollectiveBackend(failing, TimeSpan.FromSeconds(5));
        ICollectiveBackend asInterface = backend;
        asInterface.Fail("checkpoint x.ckpt is damaged");
        var e = Assert.ThrowsAny<CollectiveException>(backend.Barrier);
        Assert.Contains("rank 0 failed: checkpoint x.ckpt is damaged", e.Message);
        var watch = Stopwatch.StartNew();
        backend.Dispose();
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 3);
        Assert.Equal((1, false), (failing.Aborted, failing.Disposed)); // aborted, and no collective free peers would never join
    }
}
