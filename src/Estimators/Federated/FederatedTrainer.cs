using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>How the training rows are dealt to simulated clients.</summary>
/// <param name="Alpha">Dirichlet concentration for <see cref="NonIid"/> (small = each client sees few classes); ∞ = IID.</param>
public sealed record ClientSplit(double Alpha)
{
    /// <summary>Independent, identically distributed: a random equal share each.</summary>
    public static ClientSplit Iid { get; } = new(double.PositiveInfinity);

    /// <summary>Label-skewed: for every class, its rows are split over clients in Dirichlet(α) proportions.</summary>
    public static ClientSplit NonIid(double alpha) =>
        alpha > 0 ? new ClientSplit(alpha) : throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "The Dirichlet α must be > 0.");

    /// <summary>True for the IID split.</summary>
    public bool IsIid => double.IsPositiveInfinity(Alpha);

    /// <summary>
    /// Splits row positions 0..labels.Count−1 over <paramref name="clients"/> clients. Every row goes to exactly one
    /// client and every client gets at least one row.
    /// </summary>
    public int[][] Partition(IReadOnlyList<long> labels, int clients, int seed)
    {
        if (clients < 1) throw new ArgumentOutOfRangeException(nameof(clients), clients, "There must be at least one client.");
        if (labels.Count < clients) throw new ArgumentException($"{labels.Count} rows cannot be split over {clients} clients.");
        var random = new Random(seed);
        var shares = Enumerable.Range(0, clients).Select(_ => new List<int>()).ToArray();
        if (IsIid)
        {
            var order = Enumerable.Range(0, labels.Count).ToArray();
            random.Shuffle(order);
            for (int i = 0; i < order.Length; i++) shares[i % clients].Add(order[i]);
        }
        else
        {
            foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
            {
                var rows = group.ToArray();
                random.Shuffle(rows);
                var p = RandomSampling.Dirichlet(random, clients, Alpha);
                int start = 0;
                double cumulative = 0;
                for (int c = 0; c < clients; c++)
                {
                    cumulative += p[c];
                    int end = c == clients - 1 ? rows.Length : (int)Math.Round(cumulative * rows.Length);
                    shares[c].AddRange(rows[start..Math.Max(start, end)]);
                    start = Math.Max(start, end);
                }
            }
            // A client left empty by the draw takes one row from the largest client, so every client can train.
            foreach (var empty in shares.Where(s => s.Count == 0))
            {
                var largest = shares.OrderByDescending(s => s.Count).First();
                empty.Add(largest[^1]);
                largest.RemoveAt(largest.Count - 1);
            }
        }
        return shares.Select(s => s.ToArray()).ToArray();
    }
}

/// <summary>What happened in one federated round.</summary>
public sealed record FederatedRoundReport(int Round, int Rounds, IReadOnlyList<string> Accepted, IReadOnlyList<UpdateRejection> Rejected,
    double MeanClientLoss, long BytesSentPerClient, TimeSpan Elapsed)
{
    /// <summary>False when the round had fewer accepted updates than required and kept the previous global model.</summary>
    public bool GlobalUpdated { get; init; } = true;
    /// <summary>Accepted clients whose update was scaled down to the adaptive norm bound (<see cref="AggregationOptions.NormBoundMultiple"/>).</summary>
    public IReadOnlyList<string> Clipped { get; init; } = Array.Empty<string>();
    /// <summary>Time spent validating and combining the round's updates (the rest of a round is client training and transport).</summary>
    public TimeSpan AggregationTime { get; init; }
}

/// <summary>Settings shared by the federated trainers (simulation on one machine).</summary>
public class FederatedOptions
{
    /// <summary>The library defaults (5 clients, IID split, 10 rounds of 1 local epoch, defended aggregation): <c>new FederatedOptions()</c>.</summary>
    public static FederatedOptions Recommended => new();

    /// <summary>
    /// 5 clients whose labels follow a Dirichlet(0.5) split, 10 rounds of 1 local epoch: the non-IID setting of the
    /// federated guide and benchmarks.
    /// </summary>
    public static FederatedOptions NonIid => new() { Split = ClientSplit.NonIid(0.5) };

    /// <summary>Number of clients the training rows are dealt to.</summary>
    public int Clients { get; set; } = 5;
    /// <summary>Communication rounds.</summary>
    public int Rounds { get; set; } = 10;
    /// <summary>Local epochs over its own rows per client per round.</summary>
    public int LocalEpochs { get; set; } = 1;
    /// <summary>Clients sampled per round (0 = all).</summary>
    public int ClientsPerRound { get; set; }
    /// <summary>How rows are dealt to clients (default IID).</summary>
    public ClientSplit Split { get; set; } = ClientSplit.Iid;
    /// <summary>Server aggregation (rule, server LR, update validation).</summary>
    public AggregationOptions Aggregation { get; set; } = new();
    /// <summary>Seed of the split, client sampling and attacks.</summary>
    public int Seed { get; set; }
    /// <summary>Per-round progress.</summary>
    public IProgress<FederatedRoundReport>? Progress { get; set; }
    /// <summary>
    /// File the server writes the global model and round number to after every round; when it exists at the start, training
    /// resumes after its round.
    /// </summary>
    public string? CheckpointPath { get; set; }
    /// <summary>
    /// Simulation hook: sees (round, client id, delta) before the update is sent and may return a replacement (a faulty or
    /// malicious client) or null to drop it (a client that went away). Validation then applies as for real updates.
    /// </summary>
    public Func<int, string, float[], float[]?>? UpdateInterceptor { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public virtual void Validate()
    {
        if (Clients < 1) throw new ArgumentOutOfRangeException(nameof(Clients), Clients, "Clients must be ≥ 1.");
        if (Rounds < 1) throw new ArgumentOutOfRangeException(nameof(Rounds), Rounds, "Rounds must be ≥ 1.");
        if (LocalEpochs < 1) throw new ArgumentOutOfRangeException(nameof(LocalEpochs), LocalEpochs, "LocalEpochs must be ≥ 1.");
        if (ClientsPerRound < 0 || ClientsPerRound > Clients)
            throw new ArgumentOutOfRangeException(nameof(ClientsPerRound), ClientsPerRound, $"ClientsPerRound must be in 0..{Clients} (0 = all).");
        ArgumentNullException.ThrowIfNull(Split, nameof(Split));
        ArgumentNullException.ThrowIfNull(Aggregation, nameof(Aggregation));
    }
}

/// <summary>
/// Federated training of any TorchSharp trainer of this package: the wrapped trainer supplies the model, loss and
/// optimizer; clients train locally on their rows and send deltas of the shared parameters; the server validates and
/// aggregates them (<see cref="FederatedAggregator"/>). Methods (FAL, FFA-LoRA) override the client step and what is shared.
/// </summary>
public abstract class FederatedTrainerBase<TTransformer, TOptions> : IEstimator<TTransformer>
    where TTransformer : class, ITransformer
    where TOptions : FederatedOptions
{
    private readonly ITorchTrainer<TTransformer> _trainer;

    /// <summary>Wraps <paramref name="trainer"/>.</summary>
    protected FederatedTrainerBase(IHostEnvironment env, ITorchTrainer<TTransformer> trainer, TOptions options, string name)
    {
        ArgumentNullException.ThrowIfNull(env);
        _trainer = trainer ?? throw new ArgumentNullException(nameof(trainer));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Host = env.Register($"{name}({trainer.MethodName})");
    }

    /// <summary>ML.NET host (logging).</summary>
    protected IHost Host { get; }
    /// <summary>The federated settings.</summary>
    public TOptions Options { get; }
    /// <summary>Per-round reports of the last <see cref="Fit"/>.</summary>
    public IReadOnlyList<FederatedRoundReport> Rounds { get; private set; } = Array.Empty<FederatedRoundReport>();

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _trainer.GetOutputSchema(inputSchema);

    /// <summary>Turns the wrapped trainer's fresh module into the one clients train (e.g. adds LoRA adapters). Default: unchanged.</summary>
    protected virtual nn.Module<Tensor, Tensor> PrepareModule(nn.Module<Tensor, Tensor> module, TorchTrainingProblem problem) => module;

    /// <summary>Undoes <see cref="PrepareModule"/> for the final model (e.g. merges adapters). Default: unchanged.</summary>
    protected virtual nn.Module<Tensor, Tensor> FinishModule(nn.Module<Tensor, Tensor> module) => module;

    /// <summary>The parameters clients train, send and the server averages. Default: every trainable parameter.</summary>
    protected virtual IReadOnlyList<Parameter> SharedParameters(nn.Module<Tensor, Tensor> module) =>
        module.parameters().Where(p => p.requires_grad).ToList();

    /// <summary>Called before a client's local training in a round (e.g. to start its privacy accounting).</summary>
    protected virtual void BeginClient(int round, int client, int rows) { }

    /// <summary>
    /// One local step on <paramref name="rows"/> (int64 data-row indices): compute the loss, its gradients and step
    /// <paramref name="optimizer"/>; returns the loss. Default: the wrapped trainer's loss.
    /// </summary>
    protected virtual double ClientStep(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, optim.Optimizer optimizer, Tensor rows, Random random)
    {
        optimizer.zero_grad();
        var loss = problem.Loss(module, rows, training: true);
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }

    /// <summary>
    /// The batches (data-row indices) of one local epoch of a client. Default: its rows shuffled and cut into batches of the
    /// wrapped trainer's batch size. DP-SGD overrides it with Poisson sampling.
    /// </summary>
    protected virtual IEnumerable<int[]> ClientBatches(int[] rows, int batchSize, Random random)
    {
        var order = (int[])rows.Clone();
        random.Shuffle(order);
        for (int start = 0; start < order.Length; start += batchSize)
            yield return order[start..Math.Min(order.Length, start + batchSize)];
    }

    /// <summary>The local optimizer of a client (fresh every round). Default: the wrapped trainer's optimizer over the shared parameters.</summary>
    protected virtual optim.Optimizer CreateClientOptimizer(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, IReadOnlyList<Parameter> shared)
        => problem.CreateOptimizer(module);

    /// <summary>
    /// Prepares federated training on <paramref name="input"/> without running it: the model, the shared parameters and the
    /// rows of each client. <see cref="Fit"/> drives it in-process; the gRPC runtime drives a session per client process
    /// (with <see cref="FederatedOptions.Clients"/> = 1 and the client's own data) and one on the server.
    /// </summary>
    public FederatedSession<TTransformer> StartSession(IDataView input)
    {
        Options.Validate();
        var problem = _trainer.PrepareTraining(input);
        try
        {
            var module = PrepareModule(problem.CreateModule(), problem);
            var shared = SharedParameters(module);
            var trainRows = problem.TrainRows;
            var labels = new long[trainRows.Count];
            if (!Options.Split.IsIid)
            {
                using var targets = problem.TargetsOf(trainRows);
                if (targets.dtype != ScalarType.Int64)
                    throw new ArgumentException("A non-IID (Dirichlet) client split needs class labels: use it with a multiclass trainer (key-typed label).");
                labels = targets.data<long>().ToArray();
            }
            var partition = Options.Split.Partition(labels, Options.Clients, Options.Seed)
                .Select(positions => positions.Select(p => trainRows[p]).ToArray()).ToArray();
            return new FederatedSession<TTransformer>(problem, module, shared, partition, TrainClient, Complete);
        }
        catch
        {
            problem.Dispose();
            throw;
        }
    }

    /// <summary>One client's local training in <paramref name="round"/> from <paramref name="global"/>: its delta, sample count and mean loss.</summary>
    private (float[] Delta, long Samples, double MeanLoss, long Steps) TrainClient(FederatedSession<TTransformer> session, int client, int round, float[] global)
    {
        var (problem, module, shared) = (session.Problem, session.Module, session.Shared);
        FlatParameters.CopyFrom(shared, global);
        module.train();
        // A new optimizer per client round (fresh momentum, as in the algorithms); its native state is freed when the round ends.
        using var optimizer = CreateClientOptimizer(problem, module, shared);
        var rows = session.ClientRows(client);
        BeginClient(round, client, rows.Length);
        var clientRandom = new Random(unchecked(Options.Seed * 7_919 + round * 104_729 + client));
        double lossSum = 0;
        long lossCount = 0, steps = 0;
        for (int epoch = 0; epoch < Options.LocalEpochs; epoch++)
        {
            foreach (var batchRows in ClientBatches(rows, problem.Options.BatchSize, clientRandom))
            {
                problem.Options.CancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var batch = torch.tensor(batchRows.Select(r => (long)r).ToArray(), ScalarType.Int64);
                double loss = ClientStep(problem, module, optimizer, batch, clientRandom);
                if (!double.IsNaN(loss)) { lossSum += loss; lossCount++; }
                steps++;
            }
        }
        var local = FlatParameters.Get(shared);
        for (int i = 0; i < local.Length; i++) local[i] -= global[i];
        return (local, rows.Length, lossCount > 0 ? lossSum / lossCount : double.NaN, steps);
    }

    /// <summary>Wraps the final global parameters in the wrapped trainer's transformer.</summary>
    private TTransformer Complete(FederatedSession<TTransformer> session, float[] global, TrainingHistory history)
    {
        FlatParameters.CopyFrom(session.Shared, global);
        var final = FinishModule(session.Module);
        return _trainer.CompleteTraining(final, session.Problem, history);
    }

    /// <summary>Runs the federation on <paramref name="input"/> in-process and returns the final global model.</summary>
    public TTransformer Fit(IDataView input)
    {
        using var session = StartSession(input);
        var global = session.InitialGlobal();
        int startRound = 1;
        if (Options.CheckpointPath is { } path && File.Exists(path))
            startRound = FederatedCheckpoint.Read(path, global) + 1;

        var random = new Random(Options.Seed);
        var history = new List<double>();
        var reports = new List<FederatedRoundReport>();
        var watch = Stopwatch.StartNew();
        long steps = 0;
        for (int round = startRound; round <= Options.Rounds; round++)
        {
            session.Problem.Options.CancellationToken.ThrowIfCancellationRequested();
            var clients = Enumerable.Range(0, Options.Clients).ToArray();
            if (Options.ClientsPerRound > 0)
            {
                random.Shuffle(clients);
                clients = clients[..Options.ClientsPerRound].OrderBy(c => c).ToArray();
            }
            var updates = new List<ClientUpdate>();
            var dropped = new List<UpdateRejection>();
            var losses = new List<double>();
            foreach (var c in clients)
            {
                var (delta, samples, loss, clientSteps) = session.TrainClient(c, round, global);
                steps += clientSteps;
                if (!double.IsNaN(loss)) losses.Add(loss);
                string id = $"client-{c}";
                var sent = Options.UpdateInterceptor is { } intercept ? intercept(round, id, delta) : delta;
                if (sent is null) dropped.Add(new UpdateRejection(id, "no update received (client dropped out)"));
                else updates.Add(new ClientUpdate(id, sent, samples));
            }
            var result = FederatedAggregator.Aggregate(global, updates, Options.Aggregation);
            global = result.Global;
            double meanLoss = losses.Count > 0 ? losses.Average() : double.NaN;
            using (var ch = Host.Start("Round"))
            {
                foreach (var r in result.Rejected) ch.Warning($"Round {round}: update of {r.ClientId} rejected: {r.Reason}.");
                ch.Info($"Round {round}/{Options.Rounds}: {result.Accepted.Count} updates aggregated, mean client loss {meanLoss:G5}.");
            }
            history.Add(meanLoss);
            var report = new FederatedRoundReport(round, Options.Rounds, result.Accepted, dropped.Concat(result.Rejected).ToList(), meanLoss,
                global.Length * sizeof(float), watch.Elapsed) { GlobalUpdated = result.Applied, Clipped = result.Clipped };
            reports.Add(report);
            Options.Progress?.Report(report);
            if (Options.CheckpointPath is { } checkpoint) FederatedCheckpoint.Write(checkpoint, round, global);
        }
        Rounds = reports;
        return session.Complete(global, new TrainingHistory(history, Array.Empty<double>(), history.Count, false, steps, watch.Elapsed));
    }
}

/// <summary>
/// A prepared federated training run (see <see cref="FederatedTrainerBase{TTransformer, TOptions}.StartSession"/>): trains
/// clients from a global parameter vector and wraps the final one as the usual ML.NET transformer.
/// </summary>
public sealed class FederatedSession<TTransformer> : IDisposable where TTransformer : class, ITransformer
{
    private readonly int[][] _partition;

    internal FederatedSession(TorchTrainingProblem problem, nn.Module<Tensor, Tensor> module, IReadOnlyList<Parameter> shared, int[][] partition,
        Func<FederatedSession<TTransformer>, int, int, float[], (float[], long, double, long)> train,
        Func<FederatedSession<TTransformer>, float[], TrainingHistory, TTransformer> complete)
    {
        Problem = problem;
        Module = module;
        Shared = shared;
        _partition = partition;
        TrainFunction = train;
        CompleteFunction = complete;
    }

    internal TorchTrainingProblem Problem { get; }
    internal nn.Module<Tensor, Tensor> Module { get; }
    internal IReadOnlyList<Parameter> Shared { get; }
    private Func<FederatedSession<TTransformer>, int, int, float[], (float[], long, double, long)> TrainFunction { get; }
    private Func<FederatedSession<TTransformer>, float[], TrainingHistory, TTransformer> CompleteFunction { get; }

    /// <summary>Number of clients the rows were dealt to.</summary>
    public int ClientCount => _partition.Length;
    /// <summary>Floats in the shared parameter vector (what clients send).</summary>
    public int ParameterCount => FlatParameters.Count(Shared);
    /// <summary>Data rows of <paramref name="client"/>.</summary>
    public int[] ClientRows(int client) => _partition[client];
    /// <summary>The starting global parameters (the model's initial shared parameters).</summary>
    public float[] InitialGlobal() => FlatParameters.Get(Shared);

    /// <summary>Trains <paramref name="client"/> locally for <paramref name="round"/> from <paramref name="global"/>; returns its delta, sample count and mean loss.</summary>
    public (float[] Delta, long Samples, double MeanLoss, long Steps) TrainClient(int client, int round, float[] global) => TrainFunction(this, client, round, global);

    /// <summary>The final model for global parameters <paramref name="global"/>.</summary>
    public TTransformer Complete(float[] global, TrainingHistory history) => CompleteFunction(this, global, history);

    /// <inheritdoc/>
    public void Dispose() => Problem.Dispose();
}

/// <summary>The server's round checkpoint: round number and global parameter vector, written atomically.</summary>
public static class FederatedCheckpoint
{
    /// <summary>Writes round <paramref name="round"/>'s global parameters to <paramref name="path"/> (a crash mid-write keeps the previous file).</summary>
    public static void Write(string path, int round, float[] global) => AtomicFile.Write(path, stream =>
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write("MLNetExt.Federated.v1");
        writer.Write(round);
        writer.Write(global.Length);
        foreach (var v in global) writer.Write(v);
    });

    /// <summary>Reads a checkpoint into <paramref name="global"/> and returns its round.</summary>
    /// <exception cref="InvalidDataException">When the file is not a checkpoint, is truncated or belongs to another model.</exception>
    public static int Read(string path, float[] global)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        try
        {
            if (reader.ReadString() != "MLNetExt.Federated.v1") throw new InvalidDataException($"{path} is not a federated checkpoint.");
            int round = reader.ReadInt32();
            int n = reader.ReadInt32();
            if (n != global.Length)
                throw new InvalidDataException($"{path} holds {n} parameters but this model shares {global.Length}: it belongs to another model.");
            for (int i = 0; i < n; i++) global[i] = reader.ReadSingle();
            return round;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is truncated; delete it to start over.");
        }
    }
}
