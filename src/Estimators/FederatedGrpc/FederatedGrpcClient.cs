using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.ML;
using MLNetExt.Federated.Grpc.Protocol;

namespace MLNetExt;

/// <summary>Settings of a federated client.</summary>
public sealed class FederatedClientOptions
{
    /// <summary>The server's address, e.g. <c>https://fl.example.org:5001</c> (see <see cref="FederatedGrpcServer.Address"/>).</summary>
    public Uri Server { get; set; } = new("https://127.0.0.1:5000");
    /// <summary>This client's id, as listed in the server's ClientKeys.</summary>
    public string ClientId { get; set; } = "";
    /// <summary>This client's key (sent in the call metadata; only over TLS unless <see cref="AllowInsecureTransport"/>).</summary>
    public string Key { get; set; } = "";
    /// <summary>
    /// Training samples this client holds, declared at registration; its updates may not claim more (the server caps weights
    /// further). 0 with a <see cref="FederatedSession{TTransformer}"/> client = the session client's row count.
    /// </summary>
    public long Samples { get; set; }
    /// <summary>
    /// SHA-256 thumbprint of the server's certificate (<see cref="FederatedCertificates.Thumbprint"/>): the connection is
    /// refused unless the server presents exactly that certificate. Use for self-signed certificates.
    /// </summary>
    public string? ServerCertificateThumbprint { get; set; }
    /// <summary>A private CA (e.g. loaded from a PEM file) the server's certificate must chain to; its host name is checked too.</summary>
    public X509Certificate2? CertificateAuthority { get; set; }
    /// <summary>Allow a plain <c>http://</c> server address (the key then travels in clear text: loopback tests only). Default false.</summary>
    public bool AllowInsecureTransport { get; set; }
    /// <summary>Upload chunk size in bytes.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;
    /// <summary>Largest gRPC message accepted or sent.</summary>
    public int MaxMessageBytes { get; set; } = 16 << 20;
    /// <summary>How often to ask for work while waiting for a round.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(20);
    /// <summary>
    /// How long the client keeps trying to reach the server after a connection failure (server restart, network cut) before
    /// giving up with the last error; it then registers again and continues the round it was in. Zero = give up at once.
    /// </summary>
    public TimeSpan ReconnectTimeout { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>First wait between reconnection attempts; it doubles up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Longest wait between reconnection attempts.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Custom HTTP handler (replaces the certificate checks above); null for the default.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Server, nameof(Server));
        if (string.IsNullOrEmpty(ClientId)) throw new ArgumentException("Set ClientId.", nameof(ClientId));
        if (Server.Scheme == Uri.UriSchemeHttp && !AllowInsecureTransport)
            throw new ArgumentException($"The server address {Server} is plain http: the key would travel in clear text. Use https, or set AllowInsecureTransport for a loopback test.", nameof(Server));
        if (Samples < 0) throw new ArgumentOutOfRangeException(nameof(Samples), Samples, "Samples must be ≥ 0.");
        if (ServerCertificateThumbprint is { } t && FederatedCertificates.Normalise(t).Length != 64)
            throw new ArgumentException("ServerCertificateThumbprint must be a SHA-256 thumbprint (64 hex digits).", nameof(ServerCertificateThumbprint));
        if (ReconnectTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReconnectTimeout), ReconnectTimeout, "ReconnectTimeout must be ≥ 0.");
        if (RetryInitialDelay <= TimeSpan.Zero || RetryMaxDelay < RetryInitialDelay)
            throw new ArgumentOutOfRangeException(nameof(RetryInitialDelay), RetryInitialDelay, "RetryInitialDelay must be positive and ≤ RetryMaxDelay.");
    }

    internal FederatedClientOptions WithSamples(long samples)
    {
        var copy = (FederatedClientOptions)MemberwiseClone();
        copy.Samples = samples;
        return copy;
    }

    internal GrpcChannel CreateChannel()
    {
        HttpMessageHandler handler = HttpHandler ?? new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    FederatedCertificates.IsTrusted(certificate, errors, ServerCertificateThumbprint, CertificateAuthority),
            },
        };
        return GrpcChannel.ForAddress(Server, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
            HttpHandler = handler,
            DisposeHttpClient = true,
        });
    }
}

/// <summary>What a client returns for a round: its delta (local − global) and the samples behind it, or null to skip the round.</summary>
public delegate Task<(float[] Delta, long Samples)?> FederatedClientTraining(int round, float[] global, CancellationToken cancel);

/// <summary>
/// A federated client over gRPC: registers, then for every round pulls the global parameters, trains, and pushes its
/// update. When the server goes away it retries with bounded exponential backoff, registers again and re-sends an update
/// whose delivery was interrupted.
/// </summary>
public static class FederatedGrpcClient
{
    /// <summary>Runs until the server says the federation is done; returns the rounds this client pushed an accepted update for.</summary>
    /// <exception cref="RpcException">PERMISSION_DENIED when the server does not know this client or its key; a TLS
    /// authentication failure (no retry) when the server's certificate is not the pinned or trusted one; INVALID_ARGUMENT
    /// when it refuses the declared sample count; the last connection error when the server stays unreachable for
    /// <see cref="FederatedClientOptions.ReconnectTimeout"/>.</exception>
    public static async Task<int> RunAsync(FederatedClientOptions options, FederatedClientTraining train, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(train);
        options.Validate();
        if (options.Samples < 1) throw new ArgumentException("Set Samples: the training samples this client declares at registration.", nameof(options));
        using var channel = options.CreateChannel();
        var client = new FederatedLearning.FederatedLearningClient(channel);
        var headers = new Metadata { { "x-client-id", options.ClientId }, { "x-client-key", options.Key } };
        int accepted = 0, lastRound = 0;
        bool registered = false;
        (int Round, float[] Delta, long Samples)? pending = null; // trained but not (known to be) delivered
        DateTime? failingSince = null;
        var delay = options.RetryInitialDelay;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                if (!registered)
                {
                    await client.RegisterAsync(new RegisterRequest { SampleCount = options.Samples }, headers, cancellationToken: cancel).ConfigureAwait(false);
                    registered = true;
                }
                var task = await client.GetTaskAsync(new TaskRequest(), headers, cancellationToken: cancel).ConfigureAwait(false);
                failingSince = null;
                delay = options.RetryInitialDelay;
                if (task.Kind == TaskReply.Types.Kind.Done) return accepted;
                if (task.Kind == TaskReply.Types.Kind.Train && pending is { } interrupted && interrupted.Round == task.Round)
                {
                    var again = await PushAsync(client, headers, interrupted.Round, interrupted.Delta, interrupted.Samples, options.ChunkBytes, cancel).ConfigureAwait(false);
                    pending = null;
                    if (again.Accepted) accepted++;
                    continue;
                }
                if (task.Kind == TaskReply.Types.Kind.Wait || task.Round == lastRound)
                {
                    await Task.Delay(options.PollInterval, cancel).ConfigureAwait(false);
                    continue;
                }
                var global = await PullAsync(client, headers, task.Round, cancel).ConfigureAwait(false);
                var result = await train(task.Round, global, cancel).ConfigureAwait(false);
                lastRound = task.Round;
                if (result is not { } update) continue;
                pending = (task.Round, update.Delta, update.Samples);
                var reply = await PushAsync(client, headers, task.Round, update.Delta, update.Samples, options.ChunkBytes, cancel).ConfigureAwait(false);
                pending = null; // answered: accepted, or refused for a reason re-sending would not change
                if (reply.Accepted) accepted++;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition && registered)
            {
                registered = false; // the server no longer knows this client (restarted): register again
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted)
            {
                pending = null; // the round closed meanwhile
            }
            catch (RpcException e) when (IsTransient(e, cancel))
            {
                failingSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - failingSince.Value + delay > options.ReconnectTimeout) throw;
                await Task.Delay(delay, cancel).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.RetryMaxDelay.Ticks));
                registered = false;
            }
        }
    }

    /// <summary>Runs client <paramref name="client"/> of <paramref name="session"/> (its rows, model and method) against the server.</summary>
    public static Task<int> RunAsync<TTransformer>(FederatedClientOptions options, FederatedSession<TTransformer> session, int client = 0,
        CancellationToken cancel = default) where TTransformer : class, ITransformer
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(session);
        if (options.Samples == 0)
        {
            options = options.WithSamples(session.ClientRows(client).Length);
        }
        return RunAsync(options, (round, global, _) =>
        {
            var (delta, samples, _, _) = session.TrainClient(client, round, global);
            return Task.FromResult<(float[], long)?>((delta, samples));
        }, cancel);
    }

    private static bool IsTransient(RpcException e, CancellationToken cancel) => !IsCertificateRejection(e) && e.StatusCode switch
    {
        StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded => true,
        StatusCode.Cancelled => !cancel.IsCancellationRequested,
        _ => false,
    };

    /// <summary>A TLS handshake that failed because the server's certificate is not the trusted one: retrying cannot help.</summary>
    internal static bool IsCertificateRejection(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
            if (inner is System.Security.Authentication.AuthenticationException) return true;
        return false;
    }

    private static async Task<float[]> PullAsync(FederatedLearning.FederatedLearningClient client, Metadata headers, int round, CancellationToken cancel)
    {
        using var call = client.PullGlobal(new PullRequest { Round = round }, headers, cancellationToken: cancel);
        using var buffer = new MemoryStream();
        Chunk? header = null;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel).ConfigureAwait(false))
        {
            header ??= chunk;
            if (buffer.Length + chunk.Data.Length > header.TotalBytes)
                throw new InvalidDataException($"Round {round}: the server sent more global parameters than the {header.TotalBytes} bytes it announced.");
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
        try
        {
            foreach (var chunk in FederatedGrpcServer.Chunks(round, payload, SHA256.HashData(payload), chunkBytes, samples))
                await call.RequestStream.WriteAsync(chunk, cancel).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException && !cancel.IsCancellationRequested)
        {
            // The server may answer (refuse) before reading everything; its reply or the real error comes from the response.
        }
        return await call.ResponseAsync.ConfigureAwait(false);
    }
}
