using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using static MLNetExt.Tests.Federated.GrpcTestHost;

namespace MLNetExt.Tests.Federated;

/// <summary>Runs only where the FederatedBench server host is built (building the test project builds it).</summary>
public sealed class ServerHostFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the host program is missing.</summary>
    public ServerHostFactAttribute()
    {
        if (!File.Exists(GrpcRestartTests.HostPath))
            Skip = $"{GrpcRestartTests.HostPath} is not built: build tests/MLNetExt.Tests (it builds bench/FederatedBench) to run the server-restart test.";
    }
}

public sealed class GrpcRestartTests
{
    private const int P = 64, Rounds = 3;

    /// <summary>bench/FederatedBench's build output in this test's configuration.</summary>
    public static string HostPath
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) dir = dir.Parent;
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release"; // …/bin/<configuration>/net10.0/
            return Path.Combine(dir?.FullName ?? "", "bench", "FederatedBench", "bin", configuration, "net10.0", "FederatedBench.dll");
        }
    }

    /// <summary>A deterministic client: moves half-way from the global to its own target, with its own sample count.</summary>
    private static Task<int> Client(Uri server, string id, int index, Func<int, Task> beforeReturning, CancellationToken cancel) =>
        FederatedGrpcClient.RunAsync(new FederatedClientOptions
        {
            Server = server, ClientId = id, Key = $"key-{id}", Samples = 100 * (index + 1), ChunkBytes = 4096, ServerCertificateThumbprint = Thumbprint,
            RetryInitialDelay = TimeSpan.FromMilliseconds(50), RetryMaxDelay = TimeSpan.FromMilliseconds(250), ReconnectTimeout = TimeSpan.FromSeconds(30),
        }, async (round, global, c) =>
        {
            var delta = new float[global.Length];
            for (int k = 0; k < delta.Length; k++) delta[k] = 0.5f * (1f + 0.1f * index + 0.01f * k * (round % 2 == 0 ? 1 : -1) - global[k]);
            await beforeReturning(round);
            return (delta, 100L * (index + 1));
        }, cancel);

    [ServerHostFact]
    public async Task KillingTheServerProcessMidRound_AndRestartingIt_GivesTheSameFinalGlobalBitForBit()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var ids = new[] { "a", "b", "c" };

        // Uninterrupted reference, in-process, same options.
        var reference = ServerOptions(Rounds, null, ids);
        reference.ChunkBytes = 4096;
        float[] expected;
        await using (var host = await FederatedGrpcServer.StartAsync(new float[P], reference))
        {
            var run = host.RunAsync(cancel.Token);
            await Task.WhenAll(ids.Select((id, i) => Client(host.Address, id, i, _ => Task.CompletedTask, cancel.Token)));
            expected = await run;
        }

        var folder = Directory.CreateTempSubdirectory("grpc-restart-");
        try
        {
            var checkpoint = Path.Combine(folder.FullName, "server.ckpt");
            var pfx = Path.Combine(folder.FullName, "server.pfx");
            File.WriteAllBytes(pfx, Certificate.Export(X509ContentType.Pkcs12));
            var keys = Path.Combine(folder.FullName, "keys.txt");
            File.WriteAllLines(keys, ids.Select(id => $"{id} key-{id}"));
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
            var address = new Uri($"https://127.0.0.1:{port}");

            var first = await StartHost(port, checkpoint, pfx, keys, cancel.Token);
            Assert.Equal("0", first.Ready[2]);
            // In round 2, a delivers at once; b and c hold their updates until the first server process is gone.
            var serverKilled = new TaskCompletionSource();
            var clients = ids.Select((id, i) => Client(address, id, i, round => round == 2 && id != "a" ? serverKilled.Task.WaitAsync(cancel.Token) : Task.CompletedTask, cancel.Token)).ToArray();
            var stored = checkpoint + ".round";
            while (!(Directory.Exists(stored) && Directory.GetFiles(stored, "*.update") is [var only] && StoredRound(only) == 2))
                await Task.Delay(10, cancel.Token);
            first.Process.Kill(entireProcessTree: true);
            await first.Process.WaitForExitAsync(cancel.Token);
            Assert.Equal(1, FederatedCheckpoint.Read(checkpoint, new float[P])); // round 1 done, round 2 open with a's update

            var second = await StartHost(port, checkpoint, pfx, keys, cancel.Token);
            Assert.Equal("1", second.Ready[2]); // a's accepted update of round 2 came back from disk
            serverKilled.SetResult();
            var accepted = await Task.WhenAll(clients);
            var lines = new List<string>();
            for (string? line; (line = await second.Lines.ReadLineAsync(cancel.Token)) is not null;) lines.Add(line);
            await second.Process.WaitForExitAsync(cancel.Token);
            Assert.Equal(0, second.Process.ExitCode);
            Assert.Equal(new[] { "ROUND 2", "ROUND 3" }, lines.Where(l => l.StartsWith("ROUND ")).Select(l => string.Join(' ', l.Split(' ')[..2])));
            Assert.StartsWith("DONE ", lines[^1]); // the restarted process ran rounds 2 and 3 only, then finished

            var final = new float[P];
            Assert.Equal(Rounds, FederatedCheckpoint.Read(checkpoint, final));
            Assert.Equal(expected, final); // bit for bit: float equality per coordinate
            Assert.Equal(new[] { Rounds, Rounds, Rounds }, accepted); // a's round-2 update counted once, nobody lost a round
            Assert.False(Directory.Exists(stored) && Directory.GetFiles(stored, "*.update").Length > 0);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>The round of a stored update (after the format's name), or 0 while it is being replaced.</summary>
    private static int StoredRound(string file)
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(file));
            reader.ReadString();
            return reader.ReadInt32();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
    }

    private sealed record Host(Process Process, StreamReader Lines, string[] Ready);

    private static async Task<Host> StartHost(int port, string checkpoint, string pfx, string keys, CancellationToken cancel)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { HostPath, "grpc-server", port.ToString(), checkpoint, pfx, keys, Rounds.ToString(), P.ToString() }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var line = await process.StandardOutput.ReadLineAsync(cancel);
        if (line is null || !line.StartsWith("READY "))
            throw new InvalidOperationException($"The server host did not start: {line} {await process.StandardError.ReadToEndAsync(cancel)}");
        return new Host(process, process.StandardOutput, line.Split(' '));
    }
}
