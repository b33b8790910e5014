using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MLNetExt.Federated.Grpc.Protocol;

namespace MLNetExt.Federated.Grpc;

/// <summary>Settings of a <see cref="FederatedGrpcServer"/>.</summary>
public sealed class FederatedServerOptions
{
    /// <summary>Known clients and their keys; any other id, or a wrong key, is refused.</summary>
    public IReadOnlyDictionary<string, string> ClientKeys { get; set; } = new Dictionary<string, string>();
    /// <summary>Communication rounds.</summary>
    public int Rounds { get; set; } = 10;
    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress ListenAddress { get; set; } = IPAddress.Loopback;
    /// <summary>TCP port (0 = an ephemeral port, see <see cref="FederatedGrpcServer.Port"/>).</summary>
    public int Port { get; set; }
    /// <summary>TLS certificate, or null for plain HTTP/2 (h2c) — use TLS whenever the network is not trusted.</summary>
    public X509Certificate2? Certificate { get; set; }
    /// <summary>Clients that must register before round 1 starts (default: every known client).</summary>
    public int? ExpectedClients { get; set; }
    /// <summary>How long to wait for <see cref="ExpectedClients"/> registrations before starting with those present.</summary>
    public TimeSpan RegistrationTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>A round closes when every registered client has pushed, or at this deadline; late updates are refused.</summary>
    public TimeSpan RoundDeadline { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Fewest valid updates that change the global model; with fewer the round keeps it.</summary>
    public int MinimumResults { get; set; } = 1;
    /// <summary>Aggregation rule, server learning rate and update validation.</summary>
    public AggregationOptions Aggregation { get; set; } = new();
    /// <summary>Payload chunk size in bytes.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;
    /// <summary>Largest gRPC message accepted or sent (the default 4 MB limit is raised here; chunks stay below it).</summary>
    public int MaxMessageBytes { get; set; } = 16 << 20;
    /// <summary>File of the round checkpoint (global parameters + round), written after every round; a restart resumes after it.</summary>
    public string? CheckpointPath { get; set; }
    /// <summary>Per-round progress.</summary>
    public IProgress<FederatedRoundReport>? Progress { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (ClientKeys.Count == 0) throw new ArgumentException("ClientKeys is empty: list the clients allowed to join and their keys.", nameof(ClientKeys));
        if (Rounds < 1) throw new ArgumentOutOfRangeException(nameof(Rounds), Rounds, "Rounds must be ≥ 1.");
        if (RoundDeadline <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RoundDeadline), RoundDeadline, "RoundDeadline must be positive.");
        if (ChunkBytes < 1024 || ChunkBytes > MaxMessageBytes - 1024)
            throw new ArgumentOutOfRangeException(nameof(ChunkBytes), ChunkBytes, $"ChunkBytes must be in 1 KiB..MaxMessageBytes − 1 KiB ({MaxMessageBytes - 1024}).");
        if (MinimumResults < 1) throw new ArgumentOutOfRangeException(nameof(MinimumResults), MinimumResults, "MinimumResults must be ≥ 1.");
    }
}

/// <summary>
/// The federated server over gRPC (ASP.NET Core, HTTP/2): registers known clients, opens rounds, streams the global
/// parameters out and the updates in (chunks with total size and SHA-256), closes each round when every client has pushed
/// or at the deadline (dropouts are tolerated), validates and aggregates with <see cref="FederatedAggregator"/>, and
/// checkpoints the global model every round.
/// </summary>
public sealed class FederatedGrpcServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServerState _state;

    private FederatedGrpcServer(WebApplication app, ServerState state, int port)
    {
        _app = app;
        _state = state;
        Port = port;
    }

    /// <summary>The bound TCP port.</summary>
    public int Port { get; }
    /// <summary>The address clients connect to.</summary>
    public Uri Address => new($"{(_state.Options.Certificate is null ? "http" : "https")}://{(_state.Options.ListenAddress.Equals(IPAddress.Any) ? IPAddress.Loopback : _state.Options.ListenAddress)}:{Port}");
    /// <summary>Reports of the rounds run so far.</summary>
    public IReadOnlyList<FederatedRoundReport> Rounds => _state.Reports;

    /// <summary>Starts listening with <paramref name="initialGlobal"/> as the global parameters (or the checkpoint's, when it exists).</summary>
    public static async Task<FederatedGrpcServer> StartAsync(float[] initialGlobal, FederatedServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(initialGlobal);
        options.Validate();
        var state = new ServerState(options, (float[])initialGlobal.Clone());
        if (options.CheckpointPath is { } path && File.Exists(path))
            state.CompletedRounds = FederatedCheckpoint.Read(path, state.Global);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(options.ListenAddress, options.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2; // h2c needs an HTTP/2-only endpoint
            if (options.Certificate is { } certificate) listen.UseHttps(certificate);
        }));
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxMessageBytes;
            grpc.MaxSendMessageSize = options.MaxMessageBytes;
        });
        builder.Services.AddSingleton(state);
        var app = builder.Build();
        app.MapGrpcService<FederatedLearningService>();
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FederatedGrpcServer(app, state, new Uri(address).Port);
    }

    /// <summary>Runs the remaining rounds and returns the final global parameters.</summary>
    public async Task<float[]> RunAsync(CancellationToken cancel = default)
    {
        var o = _state.Options;
        int expected = o.ExpectedClients ?? o.ClientKeys.Count;
        await _state.WaitForRegistrationsAsync(expected, o.RegistrationTimeout, cancel).ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        for (int round = _state.CompletedRounds + 1; round <= o.Rounds; round++)
        {
            var received = await _state.RunRoundAsync(round, o.RoundDeadline, cancel).ConfigureAwait(false);
            var aggregation = o.Aggregation with { MinimumUpdates = Math.Max(o.Aggregation.MinimumUpdates, o.MinimumResults) };
            var result = FederatedAggregator.Aggregate(_state.Global, received.Updates, aggregation);
            _state.Global = result.Global;
            _state.CompletedRounds = round;
            if (o.CheckpointPath is { } path) FederatedCheckpoint.Write(path, round, _state.Global);
            var report = new FederatedRoundReport(round, o.Rounds, result.Accepted, received.Rejected.Concat(result.Rejected).ToList(),
                double.NaN, _state.Global.Length * sizeof(float), watch.Elapsed);
            _state.Reports.Add(report);
            o.Progress?.Report(report);
        }
        _state.Finish();
        return (float[])_state.Global.Clone();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _state.Finish();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The chunks of a payload (at least one, so an empty payload still carries its header); every chunk repeats the
    /// round, total size, digest and sample count.
    /// </summary>
    internal static IEnumerable<Chunk> Chunks(int round, byte[] payload, byte[] digest, int chunkBytes, long sampleCount)
    {
        var digestBytes = Google.Protobuf.ByteString.CopyFrom(digest);
        int offset = 0;
        do
        {
            int n = Math.Min(chunkBytes, payload.Length - offset);
            yield return new Chunk
            {
                Round = round, TotalBytes = payload.Length, Sha256 = digestBytes, SampleCount = sampleCount,
                Data = Google.Protobuf.ByteString.CopyFrom(payload, offset, n),
            };
            offset += n;
        } while (offset < payload.Length);
    }

    internal static byte[] ToBytes(float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    internal static float[] ToFloats(byte[] bytes)
    {
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * sizeof(float));
        return values;
    }
}

/// <summary>Round state shared by the round loop and the gRPC handlers.</summary>
internal sealed class ServerState
{
    private readonly object _gate = new();
    private readonly HashSet<string> _registered = new();
    private readonly Dictionary<string, ClientUpdate> _updates = new();
    private readonly List<UpdateRejection> _refused = new();
    private TaskCompletionSource _allPushed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _registrations = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openRound;
    private int _expectedRegistrations = int.MaxValue;
    private byte[] _globalBytes = Array.Empty<byte>();
    private byte[] _globalDigest = Array.Empty<byte>();

    public ServerState(FederatedServerOptions options, float[] global)
    {
        Options = options;
        Global = global;
    }

    public FederatedServerOptions Options { get; }
    public float[] Global { get; set; }
    public int CompletedRounds { get; set; }
    public bool Done { get; private set; }
    public List<FederatedRoundReport> Reports { get; } = new();

    public string Authenticate(ServerCallContext context)
    {
        string? id = context.RequestHeaders.GetValue("x-client-id");
        string? key = context.RequestHeaders.GetValue("x-client-key");
        if (id is null || !Options.ClientKeys.TryGetValue(id, out var expected))
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"Unknown client '{id}': it is not in the server's ClientKeys."));
        if (key is null || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(key), System.Text.Encoding.UTF8.GetBytes(expected)))
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"Wrong key for client '{id}'."));
        return id;
    }

    public void Register(string id)
    {
        lock (_gate)
        {
            _registered.Add(id);
            if (_registered.Count >= _expectedRegistrations) _registrations.TrySetResult();
        }
    }

    public async Task WaitForRegistrationsAsync(int expected, TimeSpan timeout, CancellationToken cancel)
    {
        lock (_gate)
        {
            _expectedRegistrations = expected;
            if (_registered.Count >= expected) return;
        }
        try { await _registrations.Task.WaitAsync(timeout, cancel).ConfigureAwait(false); }
        catch (TimeoutException) { /* start with the clients present; the others count as dropped */ }
    }

    public (TaskReply.Types.Kind Kind, int Round) Task(string id)
    {
        lock (_gate)
        {
            if (Done) return (TaskReply.Types.Kind.Done, 0);
            if (_openRound > 0 && !_updates.ContainsKey(id) && !_refused.Any(r => r.ClientId == id)) return (TaskReply.Types.Kind.Train, _openRound);
            return (TaskReply.Types.Kind.Wait, 0);
        }
    }

    public (byte[] Payload, byte[] Digest) GlobalFor(int round)
    {
        lock (_gate)
        {
            if (round != _openRound)
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Round {round} is not open (open round: {(_openRound == 0 ? "none" : _openRound)})."));
            return (_globalBytes, _globalDigest);
        }
    }

    public string? Receive(string id, int round, byte[] payload, byte[] digest, long totalBytes, long samples)
    {
        string? reason = null;
        if (payload.LongLength != totalBytes) reason = $"received {payload.LongLength} bytes but the header announced {totalBytes}";
        else if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(payload), digest)) reason = "the SHA-256 digest does not match the payload";
        else if (payload.Length % sizeof(float) != 0) reason = "the payload is not a whole number of floats";
        lock (_gate)
        {
            if (round != _openRound) return $"round {round} is closed or not open (open round: {(_openRound == 0 ? "none" : _openRound)})";
            if (_updates.ContainsKey(id)) return $"client '{id}' already sent an update for round {round}";
            var update = new ClientUpdate(id, reason is null ? FederatedGrpcServer.ToFloats(payload) : Array.Empty<float>(), samples);
            reason ??= FederatedAggregator.Validate(update, Global.Length, Options.Aggregation);
            if (reason is not null) _refused.Add(new UpdateRejection(id, reason));
            else _updates[id] = update;
            if (_updates.Count + _refused.Count >= _registered.Count) _allPushed.TrySetResult();
            return reason;
        }
    }

    public async Task<(List<ClientUpdate> Updates, List<UpdateRejection> Rejected)> RunRoundAsync(int round, TimeSpan deadline, CancellationToken cancel)
    {
        lock (_gate)
        {
            _updates.Clear();
            _refused.Clear();
            _allPushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _globalBytes = FederatedGrpcServer.ToBytes(Global);
            _globalDigest = SHA256.HashData(_globalBytes);
            _openRound = round;
        }
        try { await _allPushed.Task.WaitAsync(deadline, cancel).ConfigureAwait(false); }
        catch (TimeoutException) { /* the deadline closes the round with whatever arrived */ }
        lock (_gate)
        {
            _openRound = 0;
            var rejected = _refused.ToList();
            foreach (var id in _registered.Where(id => !_updates.ContainsKey(id) && !_refused.Any(r => r.ClientId == id)).OrderBy(id => id))
                rejected.Add(new UpdateRejection(id, $"no update before the round deadline ({deadline.TotalSeconds:0.#} s): client dropped out"));
            return (_updates.Values.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList(), rejected);
        }
    }

    public void Finish()
    {
        lock (_gate)
        {
            Done = true;
            _openRound = 0;
        }
    }
}

/// <summary>The gRPC service: authentication on every call, then the round state.</summary>
internal sealed class FederatedLearningService(ServerState state) : FederatedLearning.FederatedLearningBase
{
    public override Task<RegisterReply> Register(RegisterRequest request, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        state.Register(id);
        return Task.FromResult(new RegisterReply { Rounds = state.Options.Rounds, ParameterCount = state.Global.Length });
    }

    public override Task<TaskReply> GetTask(TaskRequest request, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        var (kind, round) = state.Task(id);
        return Task.FromResult(new TaskReply { Kind = kind, Round = round });
    }

    public override async Task PullGlobal(PullRequest request, IServerStreamWriter<Chunk> responseStream, ServerCallContext context)
    {
        state.Authenticate(context);
        var (payload, digest) = state.GlobalFor(request.Round);
        foreach (var chunk in FederatedGrpcServer.Chunks(request.Round, payload, digest, state.Options.ChunkBytes, sampleCount: 0))
            await responseStream.WriteAsync(chunk).ConfigureAwait(false);
    }

    public override async Task<PushReply> PushUpdate(IAsyncStreamReader<Chunk> requestStream, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        Chunk? header = null;
        using var buffer = new MemoryStream();
        while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var chunk = requestStream.Current;
            header ??= chunk;
            if (buffer.Length + chunk.Data.Length > header.TotalBytes)
                return new PushReply { Accepted = false, Reason = $"more data than the announced {header.TotalBytes} bytes" };
            chunk.Data.WriteTo(buffer);
        }
        if (header is null) return new PushReply { Accepted = false, Reason = "empty upload" };
        var reason = state.Receive(id, header.Round, buffer.ToArray(), header.Sha256.ToByteArray(), header.TotalBytes, header.SampleCount);
        return new PushReply { Accepted = reason is null, Reason = reason ?? "" };
    }
}
