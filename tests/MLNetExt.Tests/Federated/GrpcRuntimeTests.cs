using Grpc.Core;
using Microsoft.ML;
using MLNetExt.Tests.Core;
using static MLNetExt.Tests.Federated.GrpcTestHost;

namespace MLNetExt.Tests.Federated;

public sealed class GrpcRuntimeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static FederatedSession<MlpMulticlassTransformer> Session(MLContext ml, IDataView data) =>
        ml.Federated().Averaging(
            ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 32 }, BatchSize = 16, LearningRate = 1e-2, Seed = 4 }),
            new FederatedOptions { Clients = 1, LocalEpochs = 2 }).StartSession(data);

    [Fact]
    public async Task RoundsCompleteOverLoopback_WithADropoutAndANanUpdateRejected_AndTheModelLearns()
    {
        var ml = new MLContext(seed: 1);
        // Every party must map class names to the same keys: fit the label mapping once and share it.
        var keys = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 1)));
        IDataView Rings(int rows, int seed) => keys.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(rows, seed)));
        var server = Session(ml, Rings(60, 1));
        var initial = server.InitialGlobal();
        var options = ServerOptions(rounds: 3);
        options.RoundDeadline = TimeSpan.FromSeconds(3); // c's refused round 1 and silent round 2 each end at the deadline
        await using var host = await FederatedGrpcServer.StartAsync(initial, options);
        var a = Session(ml, Rings(300, 2));
        var b = Session(ml, Rings(300, 3));
        var c = Session(ml, Rings(300, 4));
        using var cancel = new CancellationTokenSource(Limit);
        var run = host.RunAsync(cancel.Token);
        var clients = new[]
        {
            FederatedGrpcClient.RunAsync(Client(host, "a"), a, cancel: cancel.Token),
            FederatedGrpcClient.RunAsync(Client(host, "b"), b, cancel: cancel.Token),
            // c sends NaNs in round 1 and goes silent in round 2 (the round must still complete, at its deadline).
            FederatedGrpcClient.RunAsync(Client(host, "c", samples: 300), (round, global, _) =>
            {
                if (round == 2) return Task.FromResult<(float[], long)?>(null);
                var (delta, samples, _, _) = c.TrainClient(0, round, global);
                if (round == 1) Array.Fill(delta, float.NaN);
                return Task.FromResult<(float[], long)?>((delta, samples));
            }, cancel.Token),
        };
        var final = await run;
        var accepted = await Task.WhenAll(clients);

        Assert.Equal(new[] { 3, 3, 1 }, accepted);
        var rounds = host.Rounds;
        Assert.Equal(3, rounds.Count);
        Assert.Equal(new[] { "a", "b" }, rounds[0].Accepted);
        Assert.Contains(rounds[0].Rejected, r => r.ClientId == "c" && r.Reason.Contains("not finite"));
        Assert.Contains(rounds[1].Rejected, r => r.ClientId == "c" && r.Reason.Contains("dropped out"));
        Assert.Equal(new[] { "a", "b", "c" }, rounds[2].Accepted);

        var test = Rings(300, 9);
        double Accuracy(float[] global) => ml.MulticlassClassification.Evaluate(
            Session(ml, test).Complete(global, new TrainingHistory(new double[0], new double[0], 0, false, 0, TimeSpan.Zero)).Transform(test)).MicroAccuracy;
        Assert.True(Accuracy(final) > Accuracy(initial) + 0.2, $"accuracy {Accuracy(initial):P1} → {Accuracy(final):P1}");
    }

    private static FederatedClientOptions Insecure(FederatedClientOptions client)
    {
        client.AllowInsecureTransport = true;
        return client;
    }

    [Fact]
    public async Task UnknownClientsAndWrongKeysAreRefused()
    {
        await using var host = await FederatedGrpcServer.StartAsync(new float[10], ServerOptions(rounds: 1));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => FederatedGrpcClient.RunAsync(Client(host, "mallory", samples: 1),
            (_, _, _) => Task.FromResult<(float[], long)?>(null)));
        Assert.Equal(StatusCode.PermissionDenied, unknown.StatusCode);
        Assert.Contains("Unknown client 'mallory'", unknown.Status.Detail);
        var wrongKey = await Assert.ThrowsAsync<RpcException>(() => FederatedGrpcClient.RunAsync(Client(host, "a", key: "guess", samples: 1),
            (_, _, _) => Task.FromResult<(float[], long)?>(null)));
        Assert.Equal(StatusCode.PermissionDenied, wrongKey.StatusCode);
    }

    [Fact]
    public async Task AServerRestartResumesFromItsCheckpointWithoutLosingRounds()
    {
        var path = Path.Combine(Path.GetTempPath(), $"grpc-{Guid.NewGuid():N}.ckpt");
        try
        {
            var options = ServerOptions(rounds: 1, path, "a");
            options.Certificate = null; // plain h2c, explicitly allowed on loopback
            options.AllowInsecureTransport = true;
            float[] first;
            await using (var host = await FederatedGrpcServer.StartAsync(new float[8], options))
            {
                var run = host.RunAsync();
                await FederatedGrpcClient.RunAsync(Insecure(Client(host, "a", samples: 1)), (r, g, _) => Task.FromResult<(float[], long)?>((Enumerable.Repeat(1f, 8).ToArray(), 1)));
                first = await run;
            }
            Assert.All(first, v => Assert.Equal(1f, v));

            options.Rounds = 2; // "restart" with the same checkpoint: only round 2 remains
            await using var again = await FederatedGrpcServer.StartAsync(new float[8], options);
            var resumed = again.RunAsync();
            await FederatedGrpcClient.RunAsync(Insecure(Client(again, "a", samples: 1)), (r, g, _) => Task.FromResult<(float[], long)?>((Enumerable.Repeat(1f, 8).ToArray(), 1)));
            var final = await resumed;
            Assert.Single(again.Rounds);
            Assert.Equal(2, again.Rounds[0].Round);
            Assert.All(final, v => Assert.Equal(2f, v));
        }
        finally
        {
            File.Delete(path);
            if (Directory.Exists(path + ".round")) Directory.Delete(path + ".round", recursive: true);
        }
    }
}
