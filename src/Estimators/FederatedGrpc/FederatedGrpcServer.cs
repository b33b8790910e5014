using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
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

namespace MLNetExt;

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
    /// <summary>
    /// TLS certificate with its private key (required unless <see cref="AllowInsecureTransport"/>); see
    /// <see cref="FederatedCertificates.CreateDevelopmentCertificate"/> for a self-signed one clients pin by thumbprint.
    /// </summary>
    public X509Certificate2? Certificate { get; set; }
    /// <summary>
    /// Serve plain HTTP/2 (h2c) without a certificate: client keys then travel in clear text, so this is only allowed on a
    /// loopback <see cref="ListenAddress"/> (tests, a single machine). Default false: the server refuses to start without TLS.
    /// </summary>
    public bool AllowInsecureTransport { get; set; }
    /// <summary>Clients that must register before the first round this server runs (default: every known client).</summary>
    public int? ExpectedClients { get; set; }
    /// <summary>
    /// How long to wait for <see cref="ExpectedClients"/> registrations; after it the server starts with those present, but
    /// never with fewer than <see cref="MinimumResults"/> (it keeps waiting for them).
    /// </summary>
    public TimeSpan RegistrationTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// A round closes when every registered, live client has delivered an accepted update, or at this deadline. Refused
    /// updates never count; a client without an accepted update at the deadline is counted as dropped (not awaited in later
    /// rounds until it calls again).
    /// </summary>
    public TimeSpan RoundDeadline { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Fewest accepted updates that change the global model; a round with fewer keeps it (<see cref="FederatedRoundReport.GlobalUpdated"/> false).</summary>
    public int MinimumResults { get; set; } = 1;
    /// <summary>
    /// Largest sample count a client may declare at registration (default 10⁹). The declaration bounds the client's
    /// weight: an update claiming more samples than declared is refused, and the aggregation caps weights relative to the
    /// round's median (<see cref="AggregationOptions.SampleWeightCapMultiple"/>).
    /// </summary>
    public long MaxSamplesPerClient { get; set; } = 1_000_000_000;
    /// <summary>Aggregation rule, server learning rate and poisoning bounds (on by default; see <see cref="AggregationOptions"/>).</summary>
    public AggregationOptions Aggregation { get; set; } = new();
    /// <summary>Payload chunk size in bytes.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;
    /// <summary>Largest gRPC message accepted or sent (the default 4 MB limit is raised here; chunks stay below it).</summary>
    public int MaxMessageBytes { get; set; } = 16 << 20;
    /// <summary>
    /// File of the round checkpoint (global parameters + round), written after every round; a restart resumes after it.
    /// The accepted updates of the open round are kept next to it (folder <c>CheckpointPath.round</c>, one atomically written
    /// file per update) so a restart mid-round resumes the round with them.
    /// </summary>
    public string? CheckpointPath { get; set; }
    /// <summary>
    /// After the last round, how long <see cref="FederatedGrpcServer.RunAsync"/> waits for the live clients to learn that the
    /// federation is done (so a server process that exits right after does not leave them retrying). Default 10 s.
    /// </summary>
    public TimeSpan FinishGracePeriod { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// A connection with no call in flight for this long is closed by the server (default 30 s), so a client that went away
    /// without closing its connection, or keeps it open unused, holds no server memory after it; an honest client reconnects
    /// on its next call without noticing.
    /// </summary>
    public TimeSpan IdleConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// A connection the peer stopped answering on (a crashed machine, a cut network: no TCP close ever arrives) is closed
    /// after this long, even with a call in flight: the server pings after half of it and gives the peer the other half to
    /// answer. Default 30 s.
    /// </summary>
    public TimeSpan DeadConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Most connections open at once (default: 4 per known client + 16); further ones are closed as they arrive, so the
    /// server's connection memory is bounded by the client list, not by how often clients reconnect.
    /// </summary>
    public int? MaxConnections { get; set; }
    /// <summary>Per-round progress.</summary>
    public IProgress<FederatedRoundReport>? Progress { get; set; }

    internal int ConnectionLimit => MaxConnections ?? 4 * ClientKeys.Count + 16;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (ClientKeys.Count == 0) throw new ArgumentException("ClientKeys is empty: list the clients allowed to join and their keys.", nameof(ClientKeys));
        if (ClientKeys.Any(k => string.IsNullOrEmpty(k.Value)))
            throw new ArgumentException($"ClientKeys: client '{ClientKeys.First(k => string.IsNullOrEmpty(k.Value)).Key}' has an empty key.", nameof(ClientKeys));
        if (Rounds < 1) throw new ArgumentOutOfRangeException(nameof(Rounds), Rounds, "Rounds must be ≥ 1.");
        if (RoundDeadline <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RoundDeadline), RoundDeadline, "RoundDeadline must be positive.");
        if (ChunkBytes < 1024 || ChunkBytes > MaxMessageBytes - 1024)
            throw new ArgumentOutOfRangeException(nameof(ChunkBytes), ChunkBytes, $"ChunkBytes must be in 1 KiB..MaxMessageBytes − 1 KiB ({MaxMessageBytes - 1024}).");
        if (MinimumResults < 1) throw new ArgumentOutOfRangeException(nameof(MinimumResults), MinimumResults, "MinimumResults must be ≥ 1.");
        if (MaxSamplesPerClient < 1) throw new ArgumentOutOfRangeException(nameof(MaxSamplesPerClient), MaxSamplesPerClient, "MaxSamplesPerClient must be ≥ 1.");
        ArgumentNullException.ThrowIfNull(Aggregation, nameof(Aggregation));
        if (IdleConnectionTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(IdleConnectionTimeout), IdleConnectionTimeout, "IdleConnectionTimeout must be positive.");
        if (DeadConnectionTimeout < TimeSpan.FromSeconds(2)) throw new ArgumentOutOfRangeException(nameof(DeadConnectionTimeout), DeadConnectionTimeout, "DeadConnectionTimeout must be ≥ 2 s (the server pings after half of it).");
        if (MaxConnections is < 1) throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "MaxConnections must be ≥ 1.");
        if (Certificate is null)
        {
            if (!AllowInsecureTransport)
                throw new InvalidOperationException("The federated server needs a TLS certificate (Certificate): client keys would otherwise travel in clear text. " +
                                                    "Use FederatedCertificates.CreateDevelopmentCertificate for a self-signed one, or set AllowInsecureTransport = true on loopback.");
            if (!IPAddress.IsLoopback(ListenAddress))
                throw new InvalidOperationException($"AllowInsecureTransport is only allowed on a loopback address, not {ListenAddress}: set a Certificate to listen on the network.");
        }
        else if (!Certificate.HasPrivateKey)
            throw new ArgumentException("Certificate has no private key: the server cannot use it for TLS.", nameof(Certificate));
    }
}

/// <summary>
/// The federated server over gRPC (ASP.NET Core, HTTP/2, TLS unless explicitly disabled on loopback): registers known
/// clients, opens rounds, streams the global parameters out and the updates in (chunks with total size and SHA-256; an
/// upload must be exactly the model's size and is refused at the first chunk that exceeds it), counts at most one accepted
/// update per registered client per round, closes the round when every registered live client has delivered one or at the
/// deadline, aggregates with <see cref="FederatedAggregator"/> (poisoning bounds on by default), and checkpoints the global
/// model every round and each accepted update of the open round, so a restart loses nothing.
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
    /// <summary>The address clients on this machine connect to (https unless the server runs with <see cref="FederatedServerOptions.AllowInsecureTransport"/>).</summary>
    public Uri Address => new($"{(_state.Options.Certificate is null ? "http" : "https")}://{(_state.Options.ListenAddress.Equals(IPAddress.Any) ? IPAddress.Loopback : _state.Options.ListenAddress)}:{Port}");
    /// <summary>Reports of the rounds run so far.</summary>
    public IReadOnlyList<FederatedRoundReport> Rounds => _state.Reports;
    /// <summary>Connections open now (at most <see cref="FederatedServerOptions.MaxConnections"/>).</summary>
    public int OpenConnections => _state.OpenConnections;
    /// <summary>Updates of the open round restored from <see cref="FederatedServerOptions.CheckpointPath"/> at start (0 without a restart mid-round).</summary>
    public int RestoredUpdates => _state.RestoredCount;

    /// <summary>
    /// Starts listening with <paramref name="initialGlobal"/> as the global parameters (or the checkpoint's, when it exists,
    /// together with the accepted updates of the round it was running).
    /// </summary>
    /// <exception cref="InvalidOperationException">No certificate and <see cref="FederatedServerOptions.AllowInsecureTransport"/> not set (or set off loopback).</exception>
    public static async Task<FederatedGrpcServer> StartAsync(float[] initialGlobal, FederatedServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(initialGlobal);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var state = new ServerState(options, (float[])initialGlobal.Clone());
        if (options.CheckpointPath is { } path)
        {
            if (File.Exists(path)) state.CompletedRounds = FederatedCheckpoint.Read(path, state.Global);
            state.Restore(OpenRoundStore.Load(OpenRoundStore.Folder(path), state.CompletedRounds + 1, state.Global, options.ClientKeys));
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders(); // nothing is logged, so neither keys nor payloads can leak into logs
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Connection state is bounded by the client list: idle, dead and surplus connections are closed by the server
            // instead of living until the peer closes them (a peer that never does would otherwise cost memory forever).
            kestrel.Limits.KeepAliveTimeout = options.IdleConnectionTimeout;
            kestrel.Limits.Http2.KeepAlivePingDelay = options.DeadConnectionTimeout / 2;
            kestrel.Limits.Http2.KeepAlivePingTimeout = options.DeadConnectionTimeout / 2;
            kestrel.Limits.MaxConcurrentConnections = options.ConnectionLimit;
            kestrel.Listen(options.ListenAddress, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2; // h2c needs an HTTP/2-only endpoint
                listen.Use(next => async connection =>
                {
                    state.ConnectionOpened();
                    try { await next(connection).ConfigureAwait(false); }
                    finally { state.ConnectionClosed(); }
                });
                if (options.Certificate is { } certificate) listen.UseHttps(certificate);
            });
        });
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
        await _state.WaitForRegistrationsAsync(expected, o.MinimumResults, o.RegistrationTimeout, cancel).ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        var aggregation = o.Aggregation with { MinimumUpdates = Math.Max(o.Aggregation.MinimumUpdates, o.MinimumResults) };
        for (int round = _state.CompletedRounds + 1; round <= o.Rounds; round++)
        {
            var received = await _state.RunRoundAsync(round, o.RoundDeadline, cancel).ConfigureAwait(false);
            var aggregating = Stopwatch.StartNew();
            var result = FederatedAggregator.Aggregate(_state.Global, received.Updates, aggregation);
            aggregating.Stop();
            _state.Global = result.Global;
            _state.CompletedRounds = round;
            if (o.CheckpointPath is { } path)
            {
                FederatedCheckpoint.Write(path, round, _state.Global);
                OpenRoundStore.Clear(OpenRoundStore.Folder(path)); // after the checkpoint: a crash in between only leaves stale files
            }
            var report = new FederatedRoundReport(round, o.Rounds, result.Accepted, received.Rejected.Concat(result.Rejected).ToList(),
                double.NaN, _state.Global.Length * sizeof(float), watch.Elapsed) { GlobalUpdated = result.Applied, Clipped = result.Clipped, AggregationTime = aggregating.Elapsed };
            _state.Reports.Add(report);
            o.Progress?.Report(report);
        }
        _state.Finish();
        await _state.WaitUntilLiveClientsKnowItIsDoneAsync(o.FinishGracePeriod, cancel).ConfigureAwait(false);
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
    private readonly Dictionary<string, long> _declared = new(); // registered clients and the sample counts they declared
    private readonly HashSet<string> _live = new();               // registered clients awaited in the open round
    private readonly Dictionary<string, ClientUpdate> _updates = new();
    private readonly List<UpdateRejection> _refused = new();
    private readonly HashSet<string> _toldDone = new();
    private readonly HashSet<string> _uploading = new(); // one upload buffer per client at a time
    private readonly TaskCompletionSource _allToldDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<ClientUpdate> _restored = new();
    private TaskCompletionSource _allDelivered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _registrations = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openRound;
    private int _expectedRegistrations = int.MaxValue;
    private byte[] _globalBytes = Array.Empty<byte>();
    private byte[] _globalDigest = Array.Empty<byte>();

    public ServerState(FederatedServerOptions options, float[] global)
    {
        Options = options;
        Global = global;
        ParameterCount = global.Length;
    }

    public FederatedServerOptions Options { get; }
    public float[] Global { get; set; }
    public int ParameterCount { get; }
    public long ExpectedBytes => (long)ParameterCount * sizeof(float);
    public int CompletedRounds { get; set; }
    public int RestoredCount { get; private set; }
    public bool Done { get; private set; }
    public List<FederatedRoundReport> Reports { get; } = new();
    private int _openConnections;
    public int OpenConnections => Volatile.Read(ref _openConnections);
    public void ConnectionOpened() => Interlocked.Increment(ref _openConnections);
    public void ConnectionClosed() => Interlocked.Decrement(ref _openConnections);

    public void Restore(List<ClientUpdate> updates)
    {
        _restored = updates;
        RestoredCount = updates.Count;
    }

    /// <summary>The authenticated client id; a registered client calling again counts as live.</summary>
    public string Authenticate(ServerCallContext context)
    {
        string? id = context.RequestHeaders.GetValue("x-client-id");
        string? key = context.RequestHeaders.GetValue("x-client-key");
        if (id is null || !Options.ClientKeys.TryGetValue(id, out var expected))
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"Unknown client '{id}': it is not in the server's ClientKeys."));
        if (key is null || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(key), System.Text.Encoding.UTF8.GetBytes(expected)))
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"Wrong key for client '{id}'."));
        lock (_gate)
            if (_declared.ContainsKey(id)) _live.Add(id);
        return id;
    }

    public void Register(string id, long declaredSamples)
    {
        if (declaredSamples < 1 || declaredSamples > Options.MaxSamplesPerClient)
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"Client '{id}' declared {declaredSamples} training samples; the server accepts 1..{Options.MaxSamplesPerClient} (MaxSamplesPerClient)."));
        lock (_gate)
        {
            if (_declared.TryGetValue(id, out var earlier) && earlier != declaredSamples)
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"Client '{id}' registered with {earlier} training samples; a server keeps the declaration for its lifetime (declared now: {declaredSamples})."));
            _declared[id] = declaredSamples;
            _live.Add(id);
            if (_declared.Count >= _expectedRegistrations) _registrations.TrySetResult();
        }
    }

    /// <summary>Waits for <paramref name="expected"/> registrations up to <paramref name="timeout"/>, then (without a bound) for at least <paramref name="minimum"/>.</summary>
    public async Task WaitForRegistrationsAsync(int expected, int minimum, TimeSpan timeout, CancellationToken cancel)
    {
        lock (_gate)
        {
            _expectedRegistrations = expected;
            if (_declared.Count >= expected) return;
        }
        try { await _registrations.Task.WaitAsync(timeout, cancel).ConfigureAwait(false); }
        catch (TimeoutException) { /* start with the clients present, as long as there are enough of them */ }
        while (true)
        {
            lock (_gate)
            {
                if (_declared.Count >= minimum) return;
                _expectedRegistrations = minimum;
                if (_registrations.Task.IsCompleted) _registrations = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            await _registrations.Task.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    private void RequireRegistered(string id)
    {
        if (!_declared.ContainsKey(id))
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Client '{id}' is not registered with this server (it may have restarted): call Register first."));
    }

    public (TaskReply.Types.Kind Kind, int Round) Task(string id)
    {
        lock (_gate)
        {
            if (Done)
            {
                _toldDone.Add(id);
                if (_live.IsSubsetOf(_toldDone)) _allToldDone.TrySetResult();
                return (TaskReply.Types.Kind.Done, 0);
            }
            RequireRegistered(id);
            if (_openRound > 0 && !_updates.ContainsKey(id)) return (TaskReply.Types.Kind.Train, _openRound);
            return (TaskReply.Types.Kind.Wait, 0);
        }
    }

    public (byte[] Payload, byte[] Digest) GlobalFor(string id, int round)
    {
        lock (_gate)
        {
            RequireRegistered(id);
            if (round != _openRound)
                throw new RpcException(new Status(StatusCode.Aborted, $"Round {round} is not open (open round: {(_openRound == 0 ? "none" : _openRound)})."));
            return (_globalBytes, _globalDigest);
        }
    }

    /// <summary>
    /// Why an upload announced by its first chunk must be refused before reading any more of it, or null. A client that
    /// has not registered gets FAILED_PRECONDITION instead (after a restart it registers again and re-sends).
    /// </summary>
    public string? Precheck(string id, int round, long totalBytes)
    {
        lock (_gate)
        {
            if (!_declared.ContainsKey(id))
            {
                if (_openRound > 0) _refused.Add(new UpdateRejection(id, $"client '{id}' has not registered with this server"));
                RequireRegistered(id);
            }
            var reason = Refusal(id, round) ?? (totalBytes != ExpectedBytes
                ? $"the upload announces {totalBytes} bytes but the model's update is {ExpectedBytes} bytes ({ParameterCount} floats)"
                : _uploading.Contains(id) ? $"client '{id}' already has an upload in progress" : null);
            if (reason is not null && _openRound > 0) _refused.Add(new UpdateRejection(id, reason));
            if (reason is null) _uploading.Add(id); // released by EndUpload
            return reason;
        }
    }

    /// <summary>Refusal reason for a push by <paramref name="id"/> for <paramref name="round"/> that depends on the round state only.</summary>
    private string? Refusal(string id, int round)
    {
        if (!_declared.ContainsKey(id)) return $"client '{id}' has not registered with this server";
        if (round != _openRound) return $"round {round} is closed or not open (open round: {(_openRound == 0 ? "none" : _openRound)})";
        if (_updates.ContainsKey(id)) return $"client '{id}' already delivered an accepted update for round {round}";
        return null;
    }

    /// <summary>Releases the upload slot taken by a successful <see cref="Precheck"/>.</summary>
    public void EndUpload(string id)
    {
        lock (_gate) _uploading.Remove(id);
    }

    /// <summary>Records a refusal in the open round's report (a replay of an older round included).</summary>
    public string Refuse(string id, int round, string reason)
    {
        lock (_gate)
            if (_openRound > 0) _refused.Add(new UpdateRejection(id, reason));
        return reason;
    }

    public string? Receive(string id, int round, float[] delta, long samples)
    {
        lock (_gate)
        {
            var reason = Refusal(id, round);
            if (reason is not null) return Refuse(id, round, reason);
            long declared = _declared[id];
            if (samples > declared) return Refuse(id, round, $"the update claims {samples} samples but client '{id}' declared {declared} at registration");
            var update = new ClientUpdate(id, delta, samples);
            reason = FederatedAggregator.Validate(update, ParameterCount, Options.Aggregation);
            if (reason is not null) return Refuse(id, round, reason);
            if (Options.CheckpointPath is { } path) OpenRoundStore.Save(OpenRoundStore.Folder(path), round, _globalDigest, update);
            _updates[id] = update;
            if (_live.All(_updates.ContainsKey)) _allDelivered.TrySetResult();
            return null;
        }
    }

    public async Task<(List<ClientUpdate> Updates, List<UpdateRejection> Rejected)> RunRoundAsync(int round, TimeSpan deadline, CancellationToken cancel)
    {
        lock (_gate)
        {
            _updates.Clear();
            _refused.Clear();
            _allDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _globalBytes = FederatedGrpcServer.ToBytes(Global);
            _globalDigest = SHA256.HashData(_globalBytes);
            foreach (var update in _restored) _updates[update.ClientId] = update; // accepted before a restart
            _restored = new List<ClientUpdate>();
            _openRound = round;
            if (_updates.Count > 0 && _live.All(_updates.ContainsKey)) _allDelivered.TrySetResult();
        }
        try { await _allDelivered.Task.WaitAsync(deadline, cancel).ConfigureAwait(false); }
        catch (TimeoutException) { /* the deadline closes the round with whatever was accepted */ }
        lock (_gate)
        {
            _openRound = 0;
            var rejected = _refused.ToList();
            foreach (var id in _declared.Keys.Where(id => !_updates.ContainsKey(id)).OrderBy(id => id, StringComparer.Ordinal))
            {
                if (_live.Remove(id)) // not awaited again until it calls
                    rejected.Add(new UpdateRejection(id, $"no accepted update before the round deadline ({deadline.TotalSeconds:0.#} s): client dropped out"));
            }
            return (_updates.Values.OrderBy(u => u.ClientId, StringComparer.Ordinal).ToList(), rejected);
        }
    }

    public async Task WaitUntilLiveClientsKnowItIsDoneAsync(TimeSpan timeout, CancellationToken cancel)
    {
        lock (_gate)
            if (_live.IsSubsetOf(_toldDone)) return;
        try { await _allToldDone.Task.WaitAsync(timeout, cancel).ConfigureAwait(false); }
        catch (TimeoutException) { /* clients that stopped polling */ }
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

/// <summary>
/// The accepted updates of the open round on disk: one file per update (written atomically) holding the round, the SHA-256
/// of the global parameters the round started from, the client id, its sample count and the delta.
/// </summary>
internal static class OpenRoundStore
{
    private const string Magic = "MLNetExt.Federated.Update.v1";

    public static string Folder(string checkpointPath) => checkpointPath + ".round";

    public static void Save(string folder, int round, byte[] globalDigest, ClientUpdate update) =>
        AtomicFile.Write(Path.Combine(folder, Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(update.ClientId)) + ".update"), stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(round);
            writer.Write(globalDigest);
            writer.Write(update.ClientId);
            writer.Write(update.SampleCount);
            writer.Write(update.Delta.Length);
            writer.Write(MemoryMarshal.AsBytes(update.Delta.AsSpan()));
        });

    /// <summary>The stored updates of <paramref name="round"/> started from <paramref name="global"/>; files of other rounds are stale and removed.</summary>
    public static List<ClientUpdate> Load(string folder, int round, float[] global, IReadOnlyDictionary<string, string> clients)
    {
        var result = new List<ClientUpdate>();
        if (!Directory.Exists(folder)) return result;
        var digest = SHA256.HashData(FederatedGrpcServer.ToBytes(global));
        foreach (var file in Directory.GetFiles(folder, "*.update").OrderBy(f => f, StringComparer.Ordinal))
        {
            using (var reader = new BinaryReader(File.OpenRead(file)))
            {
                try
                {
                    if (reader.ReadString() != Magic) throw new InvalidDataException($"{file} is not a stored federated update.");
                    int fileRound = reader.ReadInt32();
                    var fileDigest = reader.ReadBytes(32);
                    string id = reader.ReadString();
                    long samples = reader.ReadInt64();
                    int n = reader.ReadInt32();
                    if (fileRound == round && fileDigest.AsSpan().SequenceEqual(digest))
                    {
                        if (n != global.Length) throw new InvalidDataException($"{file} holds {n} parameters but the model has {global.Length}.");
                        if (!clients.ContainsKey(id)) continue; // a client no longer allowed
                        var delta = new float[n];
                        if (reader.Read(MemoryMarshal.AsBytes(delta.AsSpan())) != n * sizeof(float)) throw new EndOfStreamException();
                        result.Add(new ClientUpdate(id, delta, samples));
                        continue;
                    }
                }
                catch (EndOfStreamException)
                {
                    throw new InvalidDataException($"{file} is truncated; delete it to drop that update.");
                }
            }
            File.Delete(file); // from a finished round, or from a round that started from other parameters
        }
        return result;
    }

    public static void Clear(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (var file in Directory.GetFiles(folder, "*.update")) File.Delete(file);
    }
}

/// <summary>The gRPC service: authentication on every call, then the round state.</summary>
internal sealed class FederatedLearningService(ServerState state) : FederatedLearning.FederatedLearningBase
{
    public override Task<RegisterReply> Register(RegisterRequest request, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        state.Register(id, request.SampleCount);
        return Task.FromResult(new RegisterReply { Rounds = state.Options.Rounds, ParameterCount = state.ParameterCount });
    }

    public override Task<TaskReply> GetTask(TaskRequest request, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        var (kind, round) = state.Task(id);
        return Task.FromResult(new TaskReply { Kind = kind, Round = round });
    }

    public override async Task PullGlobal(PullRequest request, IServerStreamWriter<Chunk> responseStream, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        var (payload, digest) = state.GlobalFor(id, request.Round);
        foreach (var chunk in FederatedGrpcServer.Chunks(request.Round, payload, digest, state.Options.ChunkBytes, sampleCount: 0))
            await responseStream.WriteAsync(chunk).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads an upload into a buffer of exactly the model's size: the first chunk's header is checked before anything else
    /// is read, and the first chunk that would go past the model's size ends the call, so memory stays at one chunk plus the model.
    /// </summary>
    public override async Task<PushReply> PushUpdate(IAsyncStreamReader<Chunk> requestStream, ServerCallContext context)
    {
        var id = state.Authenticate(context);
        if (!await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false)) return Refused("empty upload");
        var header = requestStream.Current;
        if (state.Precheck(id, header.Round, header.TotalBytes) is { } early) return Refused(early);
        try
        {
            return await ReadAsync(id, header, requestStream, context.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            state.EndUpload(id);
        }
    }

    private static PushReply Refused(string reason) => new() { Accepted = false, Reason = reason };

    /// <summary>Reads the chunks of an upload whose header passed <see cref="ServerState.Precheck"/> into a model-sized buffer.</summary>
    private async Task<PushReply> ReadAsync(string id, Chunk header, IAsyncStreamReader<Chunk> requestStream, CancellationToken cancel)
    {
        var update = new float[state.ParameterCount];
        long size = state.ExpectedBytes, filled = 0;
        var chunk = header;
        for (int index = 1; ; index++)
        {
            if (chunk.Round != header.Round || chunk.TotalBytes != header.TotalBytes)
                return Refused(state.Refuse(id, header.Round, $"chunk {index} changes the round or size announced by chunk 1"));
            if (filled + chunk.Data.Length > size)
                return Refused(state.Refuse(id, header.Round, $"chunk {index} goes past the model's {size} bytes (it would end at byte {filled + chunk.Data.Length})"));
            chunk.Data.Span.CopyTo(MemoryMarshal.AsBytes(update.AsSpan())[(int)filled..]);
            filled += chunk.Data.Length;
            if (!await requestStream.MoveNext(cancel).ConfigureAwait(false)) break;
            chunk = requestStream.Current;
        }
        if (filled != header.TotalBytes) return Refused(state.Refuse(id, header.Round, $"received {filled} bytes but the header announced {header.TotalBytes}"));
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(MemoryMarshal.AsBytes(update.AsSpan())), header.Sha256.Span))
            return Refused(state.Refuse(id, header.Round, "the SHA-256 digest does not match the payload"));
        var reason = state.Receive(id, header.Round, update, header.SampleCount);
        return new PushReply { Accepted = reason is null, Reason = reason ?? "" };
    }
}
