using System.Diagnostics;
using System.Net;
using Grpc.Core;
using static MLNetExt.Tests.Federated.GrpcTestHost;

namespace MLNetExt.Tests.Federated;

/// <summary>A hostile or broken client on loopback: refused with a reason, and the round closes normally for the honest clients.</summary>
public sealed class GrpcSecurityTests
{
    private const int P = 16; // parameters of the toy model
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task ThreeNanPushesFromOneClient_DoNotCloseTheRound_AndTheHonestClientsAreAggregated()
    {
        var options = ServerOptions(rounds: 1);
        options.RoundDeadline = TimeSpan.FromSeconds(3); // a never delivers a valid update: the deadline closes the round
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        using var a = new RawClient(host, "a");
        await a.Register(100);
        var gate = new TaskCompletionSource();
        var run = host.RunAsync(cancel.Token);
        var b = Honest(host, "b", 1f, 100, gate.Task, cancel.Token);
        var c = Honest(host, "c", 1f, 100, gate.Task, cancel.Token);
        await a.WaitForRound(1, cancel.Token);
        for (int i = 0; i < 3; i++)
        {
            var (reply, _) = await a.Push(1, Filled(P, float.NaN), 100);
            Assert.False(reply.Accepted);
            Assert.Contains("not finite", reply.Reason);
        }
        Assert.Empty(host.Rounds); // three refused pushes from a 3-client federation closed nothing
        gate.SetResult();
        var final = await run;
        Assert.Equal(new[] { 1, 1 }, await Task.WhenAll(b, c));
        var round = Assert.Single(host.Rounds);
        Assert.Equal(new[] { "b", "c" }, round.Accepted);
        Assert.True(round.GlobalUpdated);
        Assert.Equal(3, round.Rejected.Count(r => r.ClientId == "a" && r.Reason.Contains("not finite")));
        Assert.Contains(round.Rejected, r => r.ClientId == "a" && r.Reason.Contains("dropped out"));
        Assert.All(final, v => Assert.Equal(1f, v));
    }

    [Fact]
    public async Task ANanPushThenAValidOne_CountsOnce_AndTheRoundClosesAsSoonAsEveryoneDelivered()
    {
        var options = ServerOptions(rounds: 1);
        options.RoundDeadline = TimeSpan.FromSeconds(30);
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        using var a = new RawClient(host, "a");
        await a.Register(100);
        var gate = new TaskCompletionSource();
        var watch = Stopwatch.StartNew();
        var run = host.RunAsync(cancel.Token);
        var honest = new[] { Honest(host, "b", 1f, 100, gate.Task, cancel.Token), Honest(host, "c", 1f, 100, gate.Task, cancel.Token) };
        await a.WaitForRound(1, cancel.Token);
        Assert.False((await a.Push(1, Filled(P, float.NaN), 100)).Reply.Accepted);
        Assert.True((await a.Push(1, Filled(P, 1f), 100)).Reply.Accepted);
        Assert.Empty(host.Rounds); // a's valid update alone does not close the round: b and c have not delivered
        gate.SetResult();
        var final = await run;
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"the round waited for its deadline ({watch.Elapsed})");
        Assert.Equal(new[] { 1, 1 }, await Task.WhenAll(honest));
        var round = Assert.Single(host.Rounds);
        Assert.Equal(new[] { "a", "b", "c" }, round.Accepted);
        Assert.Single(round.Rejected, r => r.ClientId == "a" && r.Reason.Contains("not finite"));
        Assert.All(final, v => Assert.Equal(1f, v));
    }

    [Fact]
    public async Task PushesFromAKnownClientThatNeverRegistered_OrAnUnknownOne_AreRefused_AndCountForNothing()
    {
        var options = ServerOptions(rounds: 1, null, "a", "b", "c", "d");
        options.ExpectedClients = 3;
        options.RoundDeadline = TimeSpan.FromSeconds(30);
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        var gate = new TaskCompletionSource();
        var training = new TaskCompletionSource();
        var run = host.RunAsync(cancel.Token);
        var honest = new[] { "a", "b", "c" }.Select(id => FederatedGrpcClient.RunAsync(Client(host, id, samples: 100), async (_, g, ct) =>
        {
            training.TrySetResult();
            await gate.Task.WaitAsync(ct);
            return (Filled(P, 1f), 100L);
        }, cancel.Token)).ToArray();
        await training.Task.WaitAsync(cancel.Token); // round 1 is open
        using var d = new RawClient(host, "d");
        for (int i = 0; i < 3; i++)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => d.Push(1, Filled(P, -50f), 100));
            Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
            Assert.Contains("not registered", refused.Status.Detail);
        }
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => d.Task())).StatusCode);
        using var mallory = new RawClient(host, "mallory");
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => mallory.Push(1, Filled(P, -50f), 100))).StatusCode);
        Assert.Empty(host.Rounds);
        gate.SetResult();
        var final = await run;
        Assert.Equal(new[] { 1, 1, 1 }, await Task.WhenAll(honest));
        var round = Assert.Single(host.Rounds);
        Assert.Equal(new[] { "a", "b", "c" }, round.Accepted);
        Assert.Equal(3, round.Rejected.Count(r => r.ClientId == "d" && r.Reason.Contains("has not registered")));
        Assert.DoesNotContain(round.Rejected, r => r.Reason.Contains("dropped")); // d was never awaited
        Assert.All(final, v => Assert.Equal(1f, v));
    }

    [Fact]
    public async Task ADuplicateAndAReplayOfAnOlderRound_AreRefused_AndTheRoundsCloseNormally()
    {
        var options = ServerOptions(rounds: 2);
        options.RoundDeadline = TimeSpan.FromSeconds(30);
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        using var a = new RawClient(host, "a");
        await a.Register(100);
        var gate = new TaskCompletionSource();
        var run = host.RunAsync(cancel.Token);
        var honest = new[] { Honest(host, "b", 1f, 100, gate.Task, cancel.Token), Honest(host, "c", 1f, 100, gate.Task, cancel.Token) };
        await a.WaitForRound(1, cancel.Token);
        Assert.True((await a.Push(1, Filled(P, 1f), 100)).Reply.Accepted);
        var duplicate = (await a.Push(1, Filled(P, 1f), 100)).Reply;
        Assert.False(duplicate.Accepted);
        Assert.Contains("already delivered", duplicate.Reason);
        Assert.Equal(MLNetExt.Federated.Grpc.Protocol.TaskReply.Types.Kind.Wait, (await a.Task()).Kind);
        gate.SetResult();
        await a.WaitForRound(2, cancel.Token);
        var replay = (await a.Push(1, Filled(P, 1f), 100)).Reply;
        Assert.False(replay.Accepted);
        Assert.Contains("round 1 is closed", replay.Reason);
        Assert.True((await a.Push(2, Filled(P, 1f), 100)).Reply.Accepted);
        var final = await run;
        Assert.Equal(new[] { 2, 2 }, await Task.WhenAll(honest));
        Assert.Equal(2, host.Rounds.Count);
        Assert.All(host.Rounds, r => Assert.Equal(new[] { "a", "b", "c" }, r.Accepted));
        Assert.Contains(host.Rounds[0].Rejected, r => r.ClientId == "a" && r.Reason.Contains("already delivered"));
        Assert.Contains(host.Rounds[1].Rejected, r => r.ClientId == "a" && r.Reason.Contains("round 1 is closed"));
        Assert.All(final, v => Assert.Equal(2f, v));
    }

    [Fact]
    public async Task ARoundWithFewerAcceptedUpdatesThanTheMinimum_KeepsTheGlobal_AndIsRecordedAsSuch()
    {
        var options = ServerOptions(rounds: 1);
        options.MinimumResults = 2;
        options.RoundDeadline = TimeSpan.FromSeconds(2);
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        using var b = new RawClient(host, "b");
        using var c = new RawClient(host, "c");
        await b.Register(100);
        await c.Register(100);
        var run = host.RunAsync(cancel.Token);
        var a = Honest(host, "a", 1f, 100, null, cancel.Token);
        await b.WaitForRound(1, cancel.Token);
        Assert.False((await b.Push(1, Filled(P, float.PositiveInfinity), 100)).Reply.Accepted);
        Assert.False((await c.Push(1, new float[P - 1], 100)).Reply.Accepted); // wrong shape
        var final = await run;
        Assert.Equal(1, await a);
        var round = Assert.Single(host.Rounds);
        Assert.False(round.GlobalUpdated);
        Assert.Equal(new[] { "a" }, round.Accepted);
        Assert.Contains(round.Rejected, r => r.ClientId == "c" && r.Reason.Contains($"model's update is {P * 4} bytes"));
        Assert.All(final, v => Assert.Equal(0f, v));
    }

    [Fact]
    public async Task AHugeSampleCountAndAHugeDelta_MoveTheGlobalNoFurtherThanTheBound()
    {
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], ServerOptions(rounds: 2));
        using var cancel = new CancellationTokenSource(Limit);
        using var a = new RawClient(host, "a");
        var tooMany = await Assert.ThrowsAsync<RpcException>(() => a.Register(2_300_000_000_000_000_000));
        Assert.Equal(StatusCode.InvalidArgument, tooMany.StatusCode);
        Assert.Contains("MaxSamplesPerClient", tooMany.Status.Detail);
        await a.Register(1_000_000_000); // the most a client may declare
        var gate = new TaskCompletionSource();
        var run = host.RunAsync(cancel.Token);
        var honest = new[] { Honest(host, "b", 1f, 100, gate.Task, cancel.Token), Honest(host, "c", 1f, 100, gate.Task, cancel.Token) };
        await a.WaitForRound(1, cancel.Token);
        var overclaim = (await a.Push(1, Filled(P, -50f), 2_300_000_000_000_000_000)).Reply;
        Assert.False(overclaim.Accepted);
        Assert.Contains("declared 1000000000 at registration", overclaim.Reason);
        Assert.True((await a.Push(1, Filled(P, -50f), 1_000_000_000)).Reply.Accepted);
        gate.SetResult();
        await a.WaitForRound(2, cancel.Token);
        Assert.True((await a.Push(2, Filled(P, 3e38f), 1_000_000_000)).Reply.Accepted); // finite, so accepted, then clipped
        var final = await run;
        Assert.Equal(new[] { 2, 2 }, await Task.WhenAll(honest));
        // Round 1: a's −50 points away from the round's median update and is left out: global 1. Round 2: the 3e38 delta
        // points the right way but is scaled to the median norm: (1 + 1 + 1) / 3. Undefended: −50, then ~1e38.
        Assert.Contains(host.Rounds[0].Rejected, r => r.ClientId == "a" && r.Reason.Contains("disagrees with the median of the round's other updates"));
        Assert.Equal(new[] { "b", "c" }, host.Rounds[0].Accepted);
        Assert.Equal(new[] { "a", "b", "c" }, host.Rounds[1].Accepted);
        Assert.All(final, v => Assert.Equal(2f, v, 1e-5f));
    }

    [Fact]
    public async Task AnUploadLargerThanTheModel_IsRefusedAtTheFirstChunkThatExceedsIt()
    {
        var options = ServerOptions(rounds: 1, null, "a");
        await using var host = await FederatedGrpcServer.StartAsync(new float[1000], options);
        using var cancel = new CancellationTokenSource(Limit);
        using var a = new RawClient(host, "a");
        await a.Register(100);
        var run = host.RunAsync(cancel.Token);
        await a.WaitForRound(1, cancel.Token);
        // Announcing 8 GiB: refused on the first chunk's header, before any more is read.
        var (huge, _) = await a.Push(1, new float[1000], 100, announcedBytes: 8L << 30, chunkBytes: 1 << 20, chunks: 48);
        Assert.False(huge.Accepted);
        Assert.Contains("announces 8589934592 bytes but the model's update is 4000 bytes", huge.Reason);
        // Announcing the right size but streaming more: refused at chunk 5 (chunks 1–4 fill the 4,000 bytes).
        var (longer, _) = await a.Push(1, new float[1000], 100, announcedBytes: 4000, chunkBytes: 1000, chunks: 48);
        Assert.False(longer.Accepted);
        Assert.Contains("chunk 5 goes past the model's 4000 bytes", longer.Reason);
        // One upload buffer per client: a second upload while the first is open is refused at its first chunk.
        using (var open = await a.OpenPush(1, 4000, 1000))
        {
            var (second, _) = await a.Push(1, new float[1000], 100);
            Assert.False(second.Accepted);
            Assert.Contains("already has an upload in progress", second.Reason);
            await open.RequestStream.CompleteAsync();
            Assert.Contains("received 1000 bytes but the header announced 4000", (await open.ResponseAsync).Reason);
        }
        Assert.True((await a.Push(1, Filled(1000, 0.5f), 100, chunkBytes: 1000)).Reply.Accepted);
        var final = await run;
        Assert.All(final, v => Assert.Equal(0.5f, v));
        Assert.Equal(4, host.Rounds[0].Rejected.Count(r => r.ClientId == "a"));
    }

    [Fact]
    public async Task TheServerRefusesToStartWithoutTls_UnlessInsecureTransportIsAllowedOnLoopback()
    {
        var options = ServerOptions(rounds: 1);
        options.Certificate = null;
        var noTls = await Assert.ThrowsAsync<InvalidOperationException>(() => FederatedGrpcServer.StartAsync(new float[P], options));
        Assert.Contains("TLS certificate", noTls.Message);
        options.AllowInsecureTransport = true;
        options.ListenAddress = IPAddress.Any;
        Assert.Contains("loopback", (await Assert.ThrowsAsync<InvalidOperationException>(() => FederatedGrpcServer.StartAsync(new float[P], options))).Message);
        options.ListenAddress = IPAddress.Loopback;
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        Assert.Equal("http", host.Address.Scheme);
        var plain = Client(host, "a", samples: 1);
        Assert.Contains("clear text", Assert.Throws<ArgumentException>(() => plain.Validate()).Message);
    }

    private static IEnumerable<Exception> Causes(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException; inner is not null; inner = inner.InnerException) yield return inner;
    }

    [Fact]
    public async Task ClientsConnectOnlyToThePinnedCertificateOrTheirCa_AndRefusalsNeverEchoTheKey()
    {
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], ServerOptions(rounds: 1, null, "a"));
        using var cancel = new CancellationTokenSource(Limit);
        var impostor = Client(host, "a", samples: 1);
        impostor.ServerCertificateThumbprint = FederatedCertificates.Thumbprint(FederatedCertificates.CreateDevelopmentCertificate());
        var watch = Stopwatch.StartNew();
        var pinned = await Assert.ThrowsAsync<RpcException>(() => FederatedGrpcClient.RunAsync(impostor, (_, _, _) => Task.FromResult<(float[], long)?>(null), cancel.Token));
        Assert.True(Causes(pinned).Any(e => e is System.Security.Authentication.AuthenticationException), $"expected a TLS authentication failure, got {pinned}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "a rejected certificate is not retried until ReconnectTimeout (20 s)");

        var wrongKey = Client(host, "a", key: "key-guess-1234", samples: 1);
        var denied = await Assert.ThrowsAsync<RpcException>(() => FederatedGrpcClient.RunAsync(wrongKey, (_, _, _) => Task.FromResult<(float[], long)?>(null), cancel.Token));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.DoesNotContain("key-", denied.Status.Detail);

        // Trusting the certificate as a CA (its public PEM, as copied to a client machine) works too.
        var viaCa = Client(host, "a", samples: 1);
        viaCa.ServerCertificateThumbprint = null;
        viaCa.CertificateAuthority = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(FederatedCertificates.ExportPublicPem(Certificate));
        Assert.DoesNotContain("PRIVATE", FederatedCertificates.ExportPublicPem(Certificate));
        var run = host.RunAsync(cancel.Token);
        Assert.Equal(1, await FederatedGrpcClient.RunAsync(viaCa, (_, g, _) => Task.FromResult<(float[], long)?>((Filled(g.Length, 2f), 1)), cancel.Token));
        Assert.All(await run, v => Assert.Equal(2f, v));
    }
    [Fact]
    public async Task ClientsThatConnectAndDropWithoutClosing_HoldAtMostMaxConnections_AndNothingOnceIdle()
    {
        var options = ServerOptions(rounds: 1);
        options.MaxConnections = 6;
        options.IdleConnectionTimeout = TimeSpan.FromSeconds(2);
        await using var host = await FederatedGrpcServer.StartAsync(new float[P], options);
        using var cancel = new CancellationTokenSource(Limit);
        using (var registrar = new RawClient(host, "a")) await registrar.Register(100);
        int answered = 0, peak = 0;
        for (int cycle = 0; cycle < 40; cycle++)
        {
            // RawClient leaves its handler (and so its TLS connection) open on Dispose, as a client that crashed would.
            using var dropper = new RawClient(host, "a");
            try { await dropper.Task(); answered++; }
            catch (RpcException) { } // refused: the connection limit was reached
            peak = Math.Max(peak, host.OpenConnections);
        }
        Assert.True(answered > 0, "no connect/drop cycle reached the server");
        Assert.InRange(peak, 1, options.MaxConnections.Value);
        var watch = Stopwatch.StartNew();
        while (host.OpenConnections > 0 && watch.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(100, cancel.Token);
        Assert.Equal(0, host.OpenConnections); // abandoned connections are closed after IdleConnectionTimeout

        // The server still serves an honest federation afterwards.
        var run = host.RunAsync(cancel.Token);
        var clients = new[] { "a", "b", "c" }.Select(id => Honest(host, id, 1f, 100, null, cancel.Token)).ToArray();
        Assert.All(await run, v => Assert.Equal(1f, v));
        Assert.Equal(new[] { 1, 1, 1 }, await Task.WhenAll(clients));
        Assert.Equal(new[] { "a", "b", "c" }, Assert.Single(host.Rounds).Accepted);
    }
}
