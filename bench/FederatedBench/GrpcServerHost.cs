using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MLNetExt.Bench.Federated;

/// <summary>
/// A federated gRPC server in a process of its own (the restart test kills it mid-round and starts it again):
/// <c>FederatedBench grpc-server PORT CHECKPOINT CERTIFICATE.pfx KEYS ROUNDS PARAMETERS [hold]</c>, where KEYS is a file
/// of "id key" lines (keys stay off the command line) and CHECKPOINT may be "-" for none. The global model starts at zeros;
/// prints "READY port restored-updates" once listening, "ROUND r wall-ms aggregation-ms" after each round and
/// "DONE sha256-of-final-global" at the end; with "hold" it then waits for its standard input to close (so its memory can be read).
/// A line "MEM" on its standard input is answered with "MEM managed-bytes rss-kib": the live managed heap after a full
/// collection (finalizers run, so native handles such as TLS contexts are released) and the resident set after the C
/// allocator returned its free pages, i.e. what the server really holds rather than what the allocators keep cached.
/// </summary>
internal static class GrpcServerHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length is not (6 or 7) || (args.Length == 7 && args[6] != "hold"))
        {
            Console.Error.WriteLine("usage: FederatedBench grpc-server PORT CHECKPOINT CERTIFICATE.pfx KEYS ROUNDS PARAMETERS [hold]");
            return 2;
        }
        var keys = new Dictionary<string, string>();
        foreach (var (line, number) in File.ReadLines(args[3]).Select((l, i) => (l.Trim(), i + 1)).Where(l => l.Item1.Length > 0))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[1].Length == 0)
            {
                Console.Error.WriteLine($"{args[3]}:{number}: expected \"id key\"");
                return 2;
            }
            keys[parts[0]] = parts[1];
        }
        using var certificate = X509CertificateLoader.LoadPkcs12FromFile(args[2], null);
        var options = new FederatedServerOptions
        {
            ClientKeys = keys, Port = int.Parse(args[0]), CheckpointPath = args[1] == "-" ? null : args[1], Certificate = certificate, Rounds = int.Parse(args[4]),
            RoundDeadline = TimeSpan.FromSeconds(30), RegistrationTimeout = TimeSpan.FromSeconds(120), ChunkBytes = 4096,
            Progress = new RoundLines(),
        };
        await using var server = await FederatedGrpcServer.StartAsync(new float[int.Parse(args[5])], options);
        var input = Task.Run(AnswerMemoryRequestsAsync);
        Console.WriteLine($"READY {server.Port} {server.RestoredUpdates}");
        var final = await server.RunAsync();
        Console.WriteLine($"DONE {Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(final.AsSpan())))}");
        if (args.Length == 7) await input;
        return 0;
    }

    private static async Task AnswerMemoryRequestsAsync()
    {
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            if (line.Trim() != "MEM") continue;
            long managed = GC.GetTotalMemory(forceFullCollection: true);
            GC.WaitForPendingFinalizers();
            GC.Collect();
            if (OperatingSystem.IsLinux()) MallocTrim(0);
            long rss = long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            lock (Console.Out) Console.WriteLine($"MEM {managed} {rss}");
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static void WriteLine(string line) { lock (Console.Out) Console.WriteLine(line); }

    /// <summary>Writes each round's line as it ends (synchronously, so lines keep their order).</summary>
    private sealed class RoundLines : IProgress<FederatedRoundReport>
    {
        public void Report(FederatedRoundReport r) => WriteLine($"ROUND {r.Round} {r.Elapsed.TotalMilliseconds:F0} {r.AggregationTime.TotalMilliseconds:F1}");
    }
}
