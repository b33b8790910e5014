using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using MLNetExt.Federated.Grpc.Protocol;

namespace MLNetExt.Tests.Federated;

/// <summary>Loopback servers over TLS with a development certificate, honest clients, and a raw client that can send anything.</summary>
internal static class GrpcTestHost
{
    public static readonly X509Certificate2 Certificate = FederatedCertificates.CreateDevelopmentCertificate();
    public static readonly string Thumbprint = FederatedCertificates.Thumbprint(Certificate);

    public static FederatedServerOptions ServerOptions(int rounds, string? checkpoint = null, params string[] ids) => new()
    {
        ClientKeys = (ids.Length == 0 ? new[] { "a", "b", "c" } : ids).ToDictionary(id => id, id => $"key-{id}"),
        Rounds = rounds, RoundDeadline = TimeSpan.FromSeconds(5), ChunkBytes = 4096, CheckpointPath = checkpoint, Certificate = Certificate,
        FinishGracePeriod = TimeSpan.FromSeconds(1), // raw test clients stop polling once they have pushed
    };

    public static FederatedClientOptions Client(FederatedGrpcServer server, string id, string? key = null, long samples = 0) => new()
    {
        Server = server.Address, ClientId = id, Key = key ?? $"key-{id}", ChunkBytes = 4096, Samples = samples,
        ServerCertificateThumbprint = Thumbprint, RetryInitialDelay = TimeSpan.FromMilliseconds(50), RetryMaxDelay = TimeSpan.FromMilliseconds(200),
        ReconnectTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>An honest client sending <paramref name="value"/> in every coordinate with <paramref name="samples"/>, after <paramref name="gate"/> opens.</summary>
    public static Task<int> Honest(FederatedGrpcServer server, string id, float value, long samples, Task? gate, CancellationToken cancel) =>
        FederatedGrpcClient.RunAsync(Client(server, id, samples: samples), async (_, global, c) =>
        {
            if (gate is not null) await gate.WaitAsync(c);
            return (Enumerable.Repeat(value, global.Length).ToArray(), samples);
        }, cancel);

    /// <summary>A client stub without the honest client's rules: any round, size, chunking and sample count.</summary>
    public sealed class RawClient : IDisposable
    {
        private readonly GrpcChannel _channel;
        private readonly FederatedLearning.FederatedLearningClient _stub;
        private readonly Metadata _headers;

        public RawClient(FederatedGrpcServer server, string id, string? key = null)
        {
            _channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString(HashAlgorithmName.SHA256) == Thumbprint },
                },
                MaxSendMessageSize = 16 << 20,
            });
            _stub = new FederatedLearning.FederatedLearningClient(_channel);
            _headers = new Metadata { { "x-client-id", id }, { "x-client-key", key ?? $"key-{id}" } };
        }

        public async Task Register(long samples) => await _stub.RegisterAsync(new RegisterRequest { SampleCount = samples }, _headers);

        public async Task<TaskReply> Task() => await _stub.GetTaskAsync(new TaskRequest(), _headers);

        /// <summary>Polls until the server hands out <paramref name="round"/>.</summary>
        public async Task WaitForRound(int round, CancellationToken cancel)
        {
            while (true)
            {
                var task = await Task();
                if (task.Kind == TaskReply.Types.Kind.Train && task.Round == round) return;
                await System.Threading.Tasks.Task.Delay(10, cancel);
            }
        }

        /// <summary>Pushes <paramref name="delta"/> for <paramref name="round"/>, announcing <paramref name="announcedBytes"/> (default: its size) in chunks of <paramref name="chunkBytes"/>; <paramref name="chunks"/> overrides the payload with that many chunks of garbage.</summary>
        public async Task<(PushReply Reply, int ChunksWritten)> Push(int round, float[] delta, long samples, long? announcedBytes = null, int chunkBytes = 4096, int chunks = 0)
        {
            var payload = new byte[delta.Length * sizeof(float)];
            Buffer.BlockCopy(delta, 0, payload, 0, payload.Length);
            var digest = ByteString.CopyFrom(SHA256.HashData(payload));
            using var call = _stub.PushUpdate(_headers);
            int written = 0;
            try
            {
                if (chunks > 0)
                {
                    var garbage = ByteString.CopyFrom(new byte[chunkBytes]);
                    for (; written < chunks; written++)
                        await call.RequestStream.WriteAsync(new Chunk { Round = round, TotalBytes = announcedBytes ?? payload.Length, Sha256 = digest, SampleCount = samples, Data = garbage });
                }
                else
                {
                    for (int offset = 0; offset < payload.Length || written == 0; offset += chunkBytes, written++)
                        await call.RequestStream.WriteAsync(new Chunk
                        {
                            Round = round, TotalBytes = announcedBytes ?? payload.Length, Sha256 = digest, SampleCount = samples,
                            Data = ByteString.CopyFrom(payload, offset, Math.Min(chunkBytes, payload.Length - offset)),
                        });
                }
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
            {
                // the server answered before reading the rest
            }
            return (await call.ResponseAsync, written);
        }

        /// <summary>Starts an upload with one chunk of <paramref name="bytes"/> bytes and leaves it open.</summary>
        public async Task<AsyncClientStreamingCall<Chunk, PushReply>> OpenPush(int round, long totalBytes, int bytes)
        {
            var call = _stub.PushUpdate(_headers);
            await call.RequestStream.WriteAsync(new Chunk { Round = round, TotalBytes = totalBytes, SampleCount = 1, Data = ByteString.CopyFrom(new byte[bytes]) });
            return call;
        }

        public void Dispose() => _channel.Dispose();
    }

    public static float[] Filled(int n, float value) => Enumerable.Repeat(value, n).ToArray();
}
