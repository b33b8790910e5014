// Trains a tiny TorchSharp MLP on generated regression data with CO2 (or a baseline) over MPI and prints per-rank
// loss, throughput and the overlap meter. Run: mpiexec -n 2 dotnet Co2Mpi.dll --algorithm co2 --steps 80
// Each rank ends with a "RESULT" line; the weights checksum must be identical on all ranks.
// --mpi-poll-ms sets MpiTransport.PollInterval (0 = blocking MPI collectives), --mpi-poll-max-ms its MaxPollInterval; --mpi-shm 0 uses MPICH's collectives
// instead of the node shared-memory ones (MpiTransport.SharedMemoryCollectives).
// --checkpoint-dir d [--checkpoint-every k] writes checkpoints there (DistributedCheckpointStore) and resumes from them;
// --crash-at s makes the last rank exit abruptly after step s (to test resuming a run that died).
using System.Globalization;
using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;
using MLNetExt;

var settings = Settings.Parse(args);
torch.set_num_threads(1); // ranks share the machine's cores: one intra-op thread each

using var backend = new CollectiveBackend(CreateTransport(settings), TimeSpan.FromSeconds(settings.TimeoutSeconds));
var rank = backend.Rank;
if (settings.CheckCollectives)
    CheckCollectives(backend);
torch.manual_seed(1000 + rank); // different on purpose: the coordinator must broadcast rank 0's model

const int features = 16, rowsPerRank = 1024, batchSize = 32;
var (inputs, targets) = GenerateShard(rank, features, rowsPerRank);
var model = nn.Sequential(nn.Linear(features, settings.Hidden), nn.Tanh(), nn.Linear(settings.Hidden, 1));
var learner = TorchModuleLearner.WithAdamW(model, step =>
{
    // Step k uses rows [k·B, (k+1)·B) of this rank's shard, cycling; an optional sleep stands for accelerator compute.
    if (settings.ComputeMilliseconds > 0)
        Thread.Sleep(settings.ComputeMilliseconds);
    var start = step * batchSize % rowsPerRank;
    return nn.functional.mse_loss(model.forward(inputs.narrow(0, start, batchSize)), targets.narrow(0, start, batchSize));
}, learningRate: 3e-3, weightDecay: 0.0);

var options = settings.Algorithm switch
{
    "sync" => DistributedTrainingOptions.SynchronousDataParallel(),
    "localsgd" => DistributedTrainingOptions.LocalSgd(settings.LocalSteps) with { ShardOuterState = settings.Shard },
    "slowmo" => DistributedTrainingOptions.SlowMo(settings.LocalSteps) with { ShardOuterState = settings.Shard },
    "co2" => DistributedTrainingOptions.Co2(settings.LocalSteps) with { ShardOuterState = settings.Shard },
    _ => throw new ArgumentException($"Unknown --algorithm {settings.Algorithm}: use co2, localsgd, slowmo or sync."),
};

var checkpoints = settings.CheckpointDirectory is { } directory ? new DistributedCheckpointStore(directory, backend) : null;
using var coordinator = checkpoints?.TryResume(learner, options) ?? new DistributedCoordinator(backend, learner, options);
var resumedAt = coordinator.StepsCompleted;
for (var step = coordinator.StepsCompleted; step < settings.Steps; step++)
{
    var loss = coordinator.Step();
    if ((step + 1) % settings.PrintEvery == 0)
        WriteLineAtomically($"rank {rank} step {step + 1} loss {loss:0.00000}");
    if (checkpoints is not null && settings.CheckpointEvery > 0 && (step + 1) % settings.CheckpointEvery == 0)
        checkpoints.Save(coordinator);
    if (step + 1 == settings.CrashAt && rank == backend.Size - 1)
    {
        WriteLineAtomically($"rank {rank} exits abruptly after step {step + 1} (--crash-at)");
        Environment.Exit(3);
    }
}
coordinator.Finish();
var metrics = coordinator.Metrics;
var weights = new float[learner.ParameterCount];
learner.CopyParametersTo(weights);
using var finalLoss = nn.functional.mse_loss(model.forward(inputs), targets);
// InvariantGlobalization (Directory.Build.props) makes all formatting culture-invariant.
WriteLineAtomically(
    $"RESULT rank={rank} size={backend.Size} algorithm={settings.Algorithm} steps={metrics.Steps} rounds={metrics.Rounds} " +
    $"shard_loss={finalLoss.item<float>():0.000000} steps_per_s={metrics.StepsPerSecond:0.0} " +
    $"wait_fraction={metrics.BoundaryWaitFraction:0.000} outer_state_floats={metrics.OuterStateFloatsPerRank} " +
    $"weights_sha256={Convert.ToHexString(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weights.AsSpan())))[..16]} " +
    $"resumed_at={resumedAt} backend=\"{backend.Name}\"");
backend.Barrier(); // keep every rank alive until all have printed
return 0;

// mpiexec merges every rank's output into one stream: Console.WriteLine may split a long line into several writes, and
// another rank's line can land in the middle (seen in CI as a lost RESULT line). One write() of a line shorter than
// PIPE_BUF (4 KiB) reaches the pipe whole.
static void WriteLineAtomically(string line)
{
    Console.Out.Flush();
    using var stdout = Console.OpenStandardOutput();
    stdout.Write(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
    stdout.Flush();
}

static ICollectiveTransport CreateTransport(Settings settings)
{
    var mpi = MpiTransport.InitializeWorld();
    mpi.PollInterval = TimeSpan.FromMilliseconds(settings.PollMilliseconds);
    mpi.MaxPollInterval = TimeSpan.FromMilliseconds(settings.MaxPollMilliseconds);
    mpi.SharedMemoryCollectives = settings.SharedMemory;
    ICollectiveTransport transport = mpi;
    if (settings.LatencyMilliseconds > 0 || settings.BandwidthMegabytesPerSecond < double.PositiveInfinity)
        transport = new ThrottledTransport(transport, new LinkModel(TimeSpan.FromMilliseconds(settings.LatencyMilliseconds), settings.BandwidthMegabytesPerSecond * 1e6));
    return transport;
}

// Every collective on buffers from the backend (shared memory where the transport has it) and on private ones, with
// values whose sums are known exactly; prints "CHECK rank=r checks=n failures=f" and the first failure, if any.
static void CheckCollectives(CollectiveBackend backend)
{
    int n = backend.Size, rank = backend.Rank, checks = 0;
    var failures = new List<string>();
    float Value(int r, int i) => r * 1000 + i % 997; // exact in float, and so are their sums
    void Expect(string what, ReadOnlySpan<float> got, Func<int, float> expected)
    {
        checks++;
        for (var i = 0; i < got.Length; i++)
            if (got[i] != expected(i)) { failures.Add($"{what}[{i}] = {got[i]}, expected {expected(i)}"); return; }
    }
    foreach (var (kind, allocate) in new (string, Func<int, CollectiveBuffer>)[] { ("backend", backend.Allocate), ("private", CollectiveBuffer.Allocate) })
    {
        const int length = 3001; // not a multiple of the slice alignment
        using (var b = allocate(length))
        {
            for (var i = 0; i < length; i++) b.Span[i] = Value(rank, i);
            backend.AllReduce(b, ReduceOperation.Sum);
            Expect($"{kind} all-reduce sum", b.Span, i => Enumerable.Range(0, n).Sum(r => Value(r, i)));
            for (var i = 0; i < length; i++) b.Span[i] = Value(rank, i);
            backend.AllReduce(b, ReduceOperation.Average);
            Expect($"{kind} all-reduce average", b.Span, i => Enumerable.Range(0, n).Sum(r => Value(r, i)) * (1f / n));
            for (var i = 0; i < length; i++) b.Span[i] = rank == n - 1 ? Value(rank, i) : -1;
            backend.Broadcast(b, root: n - 1);
            Expect($"{kind} broadcast", b.Span, i => Value(n - 1, i));
        }
        const int shard = 257;
        using var whole = allocate(shard * n);
        using var part = allocate(shard);
        for (var i = 0; i < shard * n; i++) whole.Span[i] = Value(rank, i);
        backend.ReduceScatter(whole, part, ReduceOperation.Sum);
        Expect($"{kind} reduce-scatter", part.Span, i => Enumerable.Range(0, n).Sum(r => Value(r, rank * shard + i)));
        for (var i = 0; i < shard; i++) part.Span[i] = Value(rank, i);
        backend.AllGather(part, whole);
        Expect($"{kind} all-gather", whole.Span, i => Value(i / shard, i % shard));
    }
    WriteLineAtomically($"CHECK rank={rank} checks={checks} failures={failures.Count} first=\"{failures.FirstOrDefault()}\"");
}

// Regression targets from a fixed teacher (the same on every rank); inputs differ per rank (data parallelism).
static (Tensor Inputs, Tensor Targets) GenerateShard(int rank, int features, int rows)
{
    var teacher = new Random(7);
    var weights = Enumerable.Range(0, features).Select(_ => (float)(teacher.NextDouble() * 2 - 1)).ToArray();
    var random = new Random(100 + rank);
    var x = new float[rows * features];
    var y = new float[rows];
    for (var r = 0; r < rows; r++)
    {
        var dot = 0f;
        for (var f = 0; f < features; f++)
        {
            x[r * features + f] = (float)(random.NextDouble() * 2 - 1);
            dot += x[r * features + f] * weights[f];
        }
        y[r] = MathF.Tanh(dot) + 0.05f * (float)(random.NextDouble() - 0.5);
    }
    return (torch.tensor(x, [rows, features]), torch.tensor(y, [rows, 1]));
}

internal sealed record Settings(string Algorithm, int Steps, int LocalSteps, int Hidden, bool Shard, double LatencyMilliseconds,
    double BandwidthMegabytesPerSecond, int ComputeMilliseconds, int PrintEvery, double TimeoutSeconds, double PollMilliseconds,
    bool SharedMemory, bool CheckCollectives, double MaxPollMilliseconds, string? CheckpointDirectory, int CheckpointEvery, int CrashAt)
{
    public static Settings Parse(string[] args)
    {
        var values = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Unexpected argument '{args[i]}'. Options: --algorithm --steps --tau --hidden --shard " +
                                            "--latency-ms --bandwidth-mbps --compute-ms --print-every --timeout-s --mpi-poll-ms --mpi-poll-max-ms --mpi-shm --check-collectives " +
                                            "--checkpoint-dir --checkpoint-every --crash-at");
            var name = args[i][2..];
            values[name] = name is "shard" or "check-collectives" ? "true" : (i + 1 < args.Length ? args[++i] : throw new ArgumentException($"--{name} needs a value."));
        }
        string Get(string name, string fallback) => values.GetValueOrDefault(name, fallback);
        double Number(string name, double fallback) => double.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        return new Settings(Get("algorithm", "co2"), (int)Number("steps", 80), (int)Number("tau", 4), (int)Number("hidden", 32),
            values.ContainsKey("shard"), Number("latency-ms", 0), Number("bandwidth-mbps", double.PositiveInfinity),
            (int)Number("compute-ms", 0), (int)Number("print-every", 20), Number("timeout-s", 60), Number("mpi-poll-ms", 0.2),
            Number("mpi-shm", 1) != 0, values.ContainsKey("check-collectives"), Number("mpi-poll-max-ms", 2),
            values.GetValueOrDefault("checkpoint-dir"), (int)Number("checkpoint-every", 0), (int)Number("crash-at", -1));
    }
}
