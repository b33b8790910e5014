using System.Diagnostics;
using System.Text.RegularExpressions;

namespace MLNetExt.Tests.Distributed;

/// <summary>A fact that is skipped, with the reason, when MPICH's <c>mpiexec</c> is not on the PATH.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when mpiexec is missing.</summary>
    public MpiFactAttribute()
    {
        if (MpiSmokeTests.FindMpiexec() is null)
            Skip = "mpiexec not found on PATH: install MPICH (scripts/setup.sh installs mpich libmpich-dev) to run the MPI smoke test.";
    }
}

public partial class MpiSmokeTests
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(3);

    [MpiFact]
    public void Co2OverMpi_TwoRanksFinishWithIdenticalSynchronisedWeights()
    {
        var results = RunCo2Mpi("--algorithm co2 --steps 24 --tau 4 --print-every 1000");
        Assert.Equal(2, results.Count);
        Assert.Equal([0, 1], results.Select(r => int.Parse(r["rank"])).Order());
        Assert.All(results, r => Assert.Equal("24", r["steps"]));
        Assert.All(results, r => Assert.StartsWith("\"mpi", r["backend"]));
        Assert.Equal(results[0]["weights_sha256"], results[1]["weights_sha256"]);
    }

    [MpiFact]
    public void ShardedCo2OverThrottledMpi_TwoRanksFinishWithIdenticalWeightsAndHalfTheOuterState()
    {
        var unsharded = RunCo2Mpi("--algorithm co2 --steps 16 --tau 4 --latency-ms 5 --print-every 1000");
        var sharded = RunCo2Mpi("--algorithm co2 --steps 16 --tau 4 --latency-ms 5 --shard --print-every 1000");
        Assert.Equal(sharded[0]["weights_sha256"], sharded[1]["weights_sha256"]);
        Assert.All(sharded, r => Assert.Contains("throttled", r["backend"]));
        Assert.True(long.Parse(sharded[0]["outer_state_floats"]) * 2 <= long.Parse(unsharded[0]["outer_state_floats"]) + 8);
    }

    [MpiFact]
    public void PolledNonBlockingCollectivesMatchBlockingOnes()
    {
        // Same run with MPI_Iallreduce/... tested while sleeping (default: the sleep grows to MaxPollInterval), tested at a
        // fixed interval, and with the blocking calls: with two ranks every reduction is one commutative float addition,
        // so the weights must agree bit for bit.
        var polled = RunCo2Mpi("--algorithm co2 --steps 24 --tau 4 --shard --print-every 1000 --mpi-poll-ms 0.2");
        var fixedInterval = RunCo2Mpi("--algorithm co2 --steps 24 --tau 4 --shard --print-every 1000 --mpi-poll-ms 0.2 --mpi-poll-max-ms 0.2");
        var blocking = RunCo2Mpi("--algorithm co2 --steps 24 --tau 4 --shard --print-every 1000 --mpi-poll-ms 0");
        var all = polled.Concat(fixedInterval).Concat(blocking).ToList();
        Assert.Equal(6, all.Count);
        Assert.All(all, r => Assert.Equal(blocking[0]["weights_sha256"], r["weights_sha256"]));
        Assert.All(all, r => Assert.Equal("24", r["steps"]));
    }

    [MpiFact]
    public void SharedMemoryCollectivesMatchMpichOnes()
    {
        // The node shared-memory path (default) against MPICH's own collectives, sharded (reduce-scatter, all-gather,
        // broadcast) and unsharded (all-reduce): with two ranks each sum is one commutative float addition, so the
        // weights must agree bit for bit — any wrong slice, stale area or missing synchronisation would change them.
        foreach (var shard in new[] { "--shard", "" })
        {
            var shared = RunCo2Mpi($"--algorithm co2 --steps 24 --tau 4 {shard} --print-every 1000 --mpi-shm 1");
            var mpich = RunCo2Mpi($"--algorithm co2 --steps 24 --tau 4 {shard} --print-every 1000 --mpi-shm 0");
            Assert.All(shared, r => Assert.Contains("node shared memory", r["backend"]));
            Assert.All(mpich, r => Assert.DoesNotContain("shared memory", r["backend"]));
            Assert.All(shared.Concat(mpich), r => Assert.Equal(mpich[0]["weights_sha256"], r["weights_sha256"]));
            Assert.Equal(4, shared.Concat(mpich).Count());
        }
    }

    [MpiFact]
    public void EveryCollectiveGivesExactSumsOnSharedAndPrivateBuffersWithTwoRanks()
    {
        // Values whose sums are exact in float: every rank must see exactly the expected numbers for all-reduce (sum and
        // average), broadcast, reduce-scatter and all-gather, on buffers in the node shared-memory windows (in place) and on
        // private buffers (through the staging window), and over MPICH's own collectives.
        foreach (var shm in new[] { 1, 0 })
        {
            var lines = RunMpi($"--check-collectives --algorithm co2 --steps 4 --tau 2 --print-every 1000 --mpi-shm {shm}")
                .Where(line => line.StartsWith("CHECK ", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, lines.Count);
            Assert.All(lines, line => Assert.Contains("checks=10 failures=0", line));
        }
    }

    [MpiFact]
    public void ARunWhoseRankDiedResumesFromTheCommittedCheckpointToTheUninterruptedWeights()
    {
        var dir = Path.Combine(Path.GetTempPath(), "co2-mpi-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            const string run = "--algorithm co2 --steps 24 --tau 4 --shard --print-every 1000 --timeout-s 20";
            var uninterrupted = RunCo2Mpi(run);

            // Rank 1 dies after step 13: mpiexec fails the job; step 8 is the last checkpoint both ranks committed (rank 0
            // may have begun writing step 16's: a .tmp file, never read).
            var crashed = RunMpi($"{run} --checkpoint-dir {dir} --checkpoint-every 8 --crash-at 13", expectFailure: true);
            Assert.Contains(crashed, line => line.Contains("rank 1 exits abruptly after step 13"));
            Assert.Equal(
                ["co2-rank0-of2.json", "co2-rank1-of2.json", "co2-step0000000008-rank0-of2.ckpt", "co2-step0000000008-rank1-of2.ckpt"],
                Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Where(f => !f.EndsWith(".tmp")).Order(StringComparer.Ordinal).ToArray());

            var resumed = RunCo2Mpi($"{run} --checkpoint-dir {dir} --checkpoint-every 8");
            Assert.Equal(2, resumed.Count);
            Assert.All(resumed, r => Assert.Equal("8", r["resumed_at"]));
            Assert.All(resumed, r => Assert.Equal("24", r["steps"]));
            Assert.All(resumed, r => Assert.Equal(uninterrupted[0]["weights_sha256"], r["weights_sha256"]));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    internal static string? FindMpiexec() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "mpiexec"))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs bench/Co2Mpi under mpiexec -n 2 and returns each rank's RESULT fields (one line per rank).</summary>
    private static List<Dictionary<string, string>> RunCo2Mpi(string arguments)
    {
        var output = RunMpi(arguments);
        var results = output.Where(line => line.StartsWith("RESULT ", StringComparison.Ordinal))
            .Select(line => ResultField().Matches(line).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value))
            .ToList();
        Assert.True(results.Count == 2 && results.All(r => r.ContainsKey("weights_sha256")),
            $"expected one RESULT line per rank, output was:\n{string.Join('\n', output)}");
        return results;
    }

    /// <summary>Runs bench/Co2Mpi under mpiexec -n 2 and returns its output lines; asserts success, or failure when asked.</summary>
    private static string[] RunMpi(string arguments, bool expectFailure = false)
    {
        var (exitCode, output, errors) = StartMpi(arguments);
        Assert.True(exitCode == 0 != expectFailure, $"mpiexec exited with {exitCode}.\n{output}\n{errors}");
        return output.Split('\n');
    }

    /// <summary>Runs bench/Co2Mpi under mpiexec -n 2 within <see cref="RunLimit"/> (failing the test otherwise); returns exit code and both outputs.</summary>
    private static (int ExitCode, string Output, string Errors) StartMpi(string arguments)
    {
        var start = new ProcessStartInfo(FindMpiexec()!, $"-n 2 dotnet \"{Co2MpiDll()}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool exited = process.WaitForExit(RunLimit);
        if (!exited)
            process.Kill(entireProcessTree: true);
        // A rank that outlived mpiexec would keep the pipes open: never wait for their end without a limit.
        bool drained = Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(30));
        string Text(Task<string> read) => read.IsCompletedSuccessfully ? read.Result : "(output not closed)";
        Assert.True(exited, $"mpiexec did not finish within {RunLimit}.\n{Text(stdout)}\n{Text(stderr)}");
        Assert.True(drained, $"mpiexec exited but its output stayed open 30 s later (a rank outlived it).\n{Text(stdout)}\n{Text(stderr)}");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string Co2MpiDll()
    {
        // The test project builds bench/Co2Mpi (a non-referencing ProjectReference) with the same configuration.
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = testOutput.Parent!.Name;
        var root = testOutput;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "MLNetExt.sln")))
            root = root.Parent;
        Assert.NotNull(root);
        var dll = Path.Combine(root.FullName, "bench", "Co2Mpi", "bin", configuration, testOutput.Name, "Co2Mpi.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build bench/Co2Mpi first.");
        return dll;
    }

    [GeneratedRegex("(\\w+)=(\"[^\"]*\"|\\S+)")]
    private static partial Regex ResultField();
}
