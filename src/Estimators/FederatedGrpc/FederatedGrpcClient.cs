using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.ML;
using MLNetExt.Federated.Grpc.Protocol;

namespace MLNetExt.Federated.Grpc;

/// <summary>Settings of a federated client.</summary>
public sealed class FederatedClientOptions
{
    /// <summary>The server's address (see <see cref="FederatedGrpcServer.Address"/>).</summary>
    public Uri Server { get; set; } = new("http://127.0.0.1:5000");
    /// <summary>This client's id, as listed in the server's ClientKeys.</summary>
    public string ClientId { get; set; } = "";
    /// <summary>This client's key.</summary>
    public string Key { get; set; } = "";
    /// <summary>Upload chunk size in bytes.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;
    /// <summary>Largest gRPC message accepted or sent.</summary>
    public int MaxMessageBytes { get; set; } = 16 << 20;
    /// <summary>How often to ask for work while waiting for a round.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(20);
    /// <summary>Custom HTTP handler (e.g. to trust a private CA for TLS); null for the default.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }
}

/// <summary>What a client returns for a round: its delta (local − global) and the samples behind it, or null to skip the round.</summary>
public delegate Task<(float[] Delta, long Samples)?> FederatedClientTraining(int round, float[] global, CancellationToken cancel);

/// <summary>A federated client over gRPC: registers, then for every round pulls the global parameters, trains, and pushes its update.</summary>
public static class FederatedGrpcClient
{
    /// <summary>Runs until the server says the federation is done; returns the rounds this client pushed an accepted update for.</summary>
    /// <exception cref="RpcException">PERMISSION_DENIED when the server does not know this client or its key.</exception>
    public static async Task<int> RunAsync(FederatedClientOptions options, FederatedClientTraining train, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(train);
        if (string.IsNullOrEmpty(options.ClientId)) throw new ArgumentException("Set ClientId.", nameof(options));
        using var channel = GrpcChannel.ForAddress(options.Server, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = options.MaxMessageBytes,
            MaxSendMessageSize = options.MaxMessageBytes,
            HttpHandler = options.HttpHandler,
            DisposeHttpClient = true,
        });
        var client = new FederatedLearning.FederatedLearningClient(channel);
        var headers = new Metadata { { "x-client-id", options.ClientId }, { "x-client-key", options.Key } };
        await client.RegisterAsync(new RegisterRequest(), headers, cancellationToken: cancel).ConfigureAwait(false);
        int accepted = 0, lastRound = 0;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            var task = await client.GetTaskAsync(new TaskRequest(), headers, cancellationToken: cancel).ConfigureAwait(false);
            if (task.Kind == TaskReply.Types.Kind.Done) return accepted;
            if (task.Kind == TaskReply.Types.Kind.Wait || task.Round == lastRound)
            {
                await Task.Delay(options.PollInterval, cancel).ConfigureAwait(false);
                continue;
            }
            lastRound = task.Round;
            var global = await PullAsync(client, headers, task.Round, cancel).ConfigureAwait(false);
            var result = await train(task.Round, global, cancel).ConfigureAwait(false);
            if (result is not { } update) continue;
            var reply = await PushAsync(client, headers, task.Round, update.Delta, update.Samples, options.ChunkBytes, cancel).ConfigureAwait(false);
            if (reply.Accepted) accepted++;
        }
    }

    /// <summary>Runs client <paramref name="client"/> of <paramref name="session"/> (its rows, model and method) against the server.</summary>
    public static Task<int> RunAsync<TTransformer>(FederatedClientOptions options, FederatedSession<TTransformer> session, int client = 0,
        CancellationToken cancel = default) where TTransformer : class, ITransformer
        => RunAsync(options, (round, global, _) =>
        {
            var (delta, samples, _, _) = session.TrainClient(client, round, global);
            return Task.FromResult<(float[], long)?>((delta, samples));
        }, cancel);

    private static async Task<float[]> PullAsync(FederatedLearning.FederatedLearningClient client, Metadata headers, int round, CancellationToken cancel)
    {
        using var call = client.PullGlobal(new PullRequest { Round = round }, headers, cancellationToken: cancel);
        using var buffer = new MemoryStream();
        Chunk? header = null;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel).ConfigureAwait(false))
        {
            header ??= chunk;
            chunk.Data.WriteTo(buffer);
        }
        if (header is null) throw new InvalidDataException($"The server sent no global parameters for round {round}.");
        var payload = buffer.ToArray();
        if (payload.LongLength != header.TotalBytes)
            throw new InvalidDataException($"Round {round}: received {payload.LongLength} bytes of global parameters but the server announced {header.TotalBytes}.");
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(payload), header.Sha256.Span))
            throw new InvalidDataException($"Round {round}: the global parameters do not match their SHA-256 digest (corrupted in transit).");
        return FederatedGrpcServer.ToFloats(payload);
    }

    private static async Task<PushReply> PushAsync(FederatedLearning.FederatedLearningClient client, Metadata headers, int round, float[] delta,
        long samples, int chunkBytes, CancellationToken cancel)
    {
        var payload = FederatedGrpcServer.ToBytes(delta);
        using var call = client.PushUpdate(headers, cancellationToken: cancel);
        foreach (var chunk in FederatedGrpcServer.Chunks(round, payload, SHA256.HashData(payload), chunkBytes, samples))
            await call.RequestStream.WriteAsync(chunk, cancel).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        return await call.ResponseAsync.ConfigureAwait(false);
    }
}
