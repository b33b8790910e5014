using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>Settings of a <see cref="Co2Trainer{TTransformer}"/>; the wrapped trainer's options still set epochs, batch size, learning rate.</summary>
public sealed class Co2TrainerOptions
{
    /// <summary>The library defaults (2 in-process workers, CO2 with τ = 8 local steps and the recipe's outer momentum 0.2): <c>new Co2TrainerOptions()</c>.</summary>
    public static Co2TrainerOptions Recommended => new();

    /// <summary>
    /// 2 in-process workers, CO2 with τ = 16 local steps and no outer momentum: the setting of the CO2 guide's example and
    /// benchmarks (in their 2-epoch ablation the recipe's momentum 0.2 cost 1.4–2.1 accuracy points).
    /// </summary>
    public static Co2TrainerOptions Benchmark => new() { Algorithm = DistributedTrainingOptions.Co2(localSteps: 16, outerMomentum: 0f) };

    /// <summary>
    /// Synchronisation algorithm and its settings. Default: CO2 with τ = 8 local steps, outer momentum 0.2, the gap-aware
    /// staleness penalty and elementwise momentum clipping at 1. Use <see cref="DistributedTrainingOptions.SynchronousDataParallel"/>
    /// or <see cref="DistributedTrainingOptions.LocalSgd"/> for the baselines.
    /// </summary>
    public DistributedTrainingOptions Algorithm { get; set; } = DistributedTrainingOptions.Co2(localSteps: 8);

    /// <summary>Number of in-process workers (threads), used when <see cref="Backend"/> is null.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>
    /// This process's rank in a multi-process job (e.g. <c>new CollectiveBackend(MpiTransport.InitializeWorld())</c> under
    /// <c>mpiexec</c>): every rank calls <c>Fit</c> with the same data and options and trains its shard. Null: in-process workers.
    /// The caller owns (disposes) the backend.
    /// </summary>
    public ICollectiveBackend? Backend { get; set; }

    /// <summary>Simulated link for in-process workers (latency + bandwidth floor per collective), or null for memory speed.</summary>
    public LinkModel? SimulatedLink { get; set; }

    /// <summary>Longest wait for a collective before the run fails naming the missing rank (a dead or stalled worker).</summary>
    public TimeSpan Timeout { get; set; } = CollectiveBackend.DefaultTimeout;

    /// <summary>
    /// TorchSharp intra-op threads per worker. 0 = automatic: in-process workers get processor count ÷ workers (at least 1),
    /// so N workers do not oversubscribe the cores; a multi-process rank keeps the process setting. Set on each worker's
    /// own thread, because the OpenMP thread count is a per-thread setting.
    /// </summary>
    public int ThreadsPerWorker { get; set; }

    /// <summary>
    /// In-process workers only: pin worker r and its communication thread to the (r mod cores)-th CPU the process may use,
    /// the counterpart of <c>mpiexec -bind-to core</c> for MPI ranks (Linux; ignored elsewhere and with <see cref="Backend"/>).
    /// Off by default: it steadies rounds when the workers fill every core, but a pinned thread cannot borrow an idle core.
    /// Measure both on the target machine.
    /// </summary>
    public bool PinWorkersToCores { get; set; }

    /// <summary>
    /// Directory for checkpoints, or null for none: per rank a state file per step and a manifest of the last step every rank
    /// completed (<see cref="DistributedCheckpointStore"/>); on several nodes a shared directory or the same local path on each.
    /// </summary>
    public string? CheckpointDirectory { get; set; }

    /// <summary>Write checkpoints every this many inner steps (0 = only at the end of training).</summary>
    public int CheckpointEverySteps { get; set; }

    /// <summary>Resume from the checkpoints in <see cref="CheckpointDirectory"/> when they exist.</summary>
    public bool Resume { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Algorithm, nameof(Algorithm));
        Algorithm.Validate();
        if (Backend is null && Workers < 1)
            throw new ArgumentOutOfRangeException(nameof(Workers), Workers, "Workers must be ≥ 1.");
        if (Timeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "Timeout must be positive.");
        if (ThreadsPerWorker < 0)
            throw new ArgumentOutOfRangeException(nameof(ThreadsPerWorker), ThreadsPerWorker, "ThreadsPerWorker must be ≥ 0.");
        if (CheckpointEverySteps < 0)
            throw new ArgumentOutOfRangeException(nameof(CheckpointEverySteps), CheckpointEverySteps, "CheckpointEverySteps must be ≥ 0.");
        if ((CheckpointEverySteps > 0 || Resume) && string.IsNullOrWhiteSpace(CheckpointDirectory))
            throw new ArgumentException("Set CheckpointDirectory to write or resume checkpoints.", nameof(CheckpointDirectory));
    }
}

/// <summary>One point of a worker's loss curve.</summary>
/// <param name="Seconds">Wall time since the worker started training.</param>
/// <param name="Step">Inner steps completed.</param>
/// <param name="Loss">Mean local training loss over the steps since the previous point.</param>
public readonly record struct LossPoint(double Seconds, long Step, double Loss);

/// <summary>What a distributed run did on each rank of this process.</summary>
/// <param name="Backend">Backend description (e.g. "in-process, throttled to 20 ms + 100 MB/s").</param>
/// <param name="Ranks">Per-rank counters (throughput, communication wait, outer-state size); one entry per local rank.</param>
/// <param name="LossCurve">Rank 0's (or this process's) loss against wall time, one point per outer round.</param>
/// <param name="History">Epoch losses averaged over the local ranks; validation loss of the final model when there is a split.</param>
public sealed record Co2RunReport(string Backend, IReadOnlyList<DistributedMetrics> Ranks, IReadOnlyList<LossPoint> LossCurve, TrainingHistory History)
{
    /// <summary>Total samples per second over the local ranks (inner steps × batch size ÷ wall time).</summary>
    public double SamplesPerSecond(int batchSize) => Ranks.Sum(r => r.StepsPerSecond) * batchSize;
}

/// <summary>
/// Data-parallel training of any TorchSharp trainer of this package with CO2 (or a baseline): each worker trains a
/// replica on its shard with the trainer's own model, loss and optimizer, and a <see cref="DistributedCoordinator"/>
/// keeps the replicas in agreement. The result is the trainer's usual transformer holding the synchronised model.
/// </summary>
/// <remarks>
/// Epochs keep their meaning (passes over the training split): each of N workers makes that many passes over its
/// 1/N shard, so the total number of samples equals single-process training. Batches are drawn from a permutation
/// of the shard fixed by (seed, rank, epoch), so a resumed run sees the same data as an uninterrupted one.
/// Early stopping is not applied (all ranks would have to agree); the validation loss of the final model is reported.
/// </remarks>
public sealed class Co2Trainer<TTransformer> : IEstimator<TTransformer> where TTransformer : class, ITransformer
{
    private readonly IHost _host;
    private readonly ITorchTrainer<TTransformer> _trainer;

    /// <summary>Wraps <paramref name="trainer"/>.</summary>
    public Co2Trainer(IHostEnvironment env, ITorchTrainer<TTransformer> trainer, Co2TrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        _trainer = trainer ?? throw new ArgumentNullException(nameof(trainer));
        Options = options ?? new Co2TrainerOptions();
        _host = env.Register($"Co2Trainer({trainer.MethodName})");
    }

    /// <summary>The distributed settings.</summary>
    public Co2TrainerOptions Options { get; }

    /// <summary>Counters and loss curve of the last <see cref="Fit"/>.</summary>
    public Co2RunReport? LastRun { get; private set; }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => _trainer.GetOutputSchema(inputSchema);

    /// <summary>Trains on <paramref name="input"/> with the configured workers and returns the synchronised model.</summary>
    public TTransformer Fit(IDataView input)
    {
        Options.Validate();
        using var problem = _trainer.PrepareTraining(input);
        var o = problem.Options;
        if (o.EarlyStoppingPatience > 0)
            Log(ch => ch.Warning("EarlyStoppingPatience is ignored by Co2Trainer: every rank trains all epochs."));
        int size = Options.Backend?.Size ?? Options.Workers;
        if (problem.TrainRows.Count < size)
            throw new ArgumentException($"{problem.TrainRows.Count} training rows cannot be sharded over {size} workers.");
        var plan = new ShardPlan(problem.TrainRows.Count, size, o.BatchSize, o.Epochs, problem.Seed);
        var cancellation = new SharedCancellation(o.CancellationToken, Options.Algorithm.LocalSteps);

        WorkerResult[] results;
        string backendName;
        if (Options.Backend is { } backend)
        {
            var module = problem.CreateModule();
            results = new[] { RunWorker(problem, plan, backend, module, cancellation) };
            backendName = backend.Name;
        }
        else
        {
            // Replicas are created here, in rank order on one thread, so the initial weights do not depend on thread timing.
            var modules = Enumerable.Range(0, size).Select(_ => problem.CreateModule()).ToArray();
            var names = new ConcurrentBag<string>();
            var link = Options.SimulatedLink;
            results = InProcessGroup.Run(size, rankBackend =>
                {
                    names.Add(rankBackend.Name);
                    return RunWorker(problem, plan, rankBackend, modules[rankBackend.Rank], cancellation);
                }, Options.Timeout,
                link is null ? null : transport => new ThrottledTransport(transport, link), Options.PinWorkersToCores);
            backendName = names.FirstOrDefault() ?? "in-process";
            for (int r = 1; r < size; r++) modules[r].Dispose();
        }

        var trained = results[0].Module;
        var epochLoss = Enumerable.Range(0, o.Epochs).Select(e => results.Average(r => r.EpochLoss[e])).ToList();
        var validation = new List<double>();
        if (problem.ValidationRows.Count > 0)
        {
            trained.eval();
            validation.Add(problem.ValidationLoss(trained));
        }
        var history = new TrainingHistory(epochLoss, validation, o.Epochs, false, results[0].Metrics.Steps,
            TimeSpan.FromSeconds(results.Max(r => r.Metrics.ElapsedSeconds)));
        LastRun = new Co2RunReport(backendName, results.Select(r => r.Metrics).ToList(), results[0].LossCurve, history);
        Log(ch => ch.Info($"{Options.Algorithm.Algorithm} on {size} worker(s) ({backendName}): " +
                   $"{LastRun.SamplesPerSecond(o.BatchSize):F0} samples/s, communication wait {results.Average(r => r.Metrics.BoundaryWaitFraction):P1}."));
        return _trainer.CompleteTraining(trained, problem, history);
    }

    private sealed record WorkerResult(nn.Module<Tensor, Tensor> Module, double[] EpochLoss, DistributedMetrics Metrics, List<LossPoint> LossCurve);

    private WorkerResult RunWorker(TorchTrainingProblem problem, ShardPlan plan, ICollectiveBackend backend,
        nn.Module<Tensor, Tensor> module, SharedCancellation cancellation)
    {
        var o = problem.Options;
        int rank = backend.Rank;
        int threads = Options.ThreadsPerWorker > 0 ? Options.ThreadsPerWorker
            : Options.Backend is null ? Math.Max(1, System.Environment.ProcessorCount / backend.Size) : 0;
        if (threads > 0) torch.set_num_threads(threads);
        module.train();
        using var optimizer = problem.CreateOptimizer(module);
        var learner = new TorchModuleLearner(module, optimizer, step =>
        {
            double lr = TorchTrainingLoop.LearningRateAt(o, step, plan.TotalSteps, plan.StepsPerEpoch);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            return problem.TrainingLoss(module, plan.Batch(rank, step));
        });

        var checkpoints = Options.CheckpointDirectory is { } dir ? new DistributedCheckpointStore(dir, backend) : null;
        using var coordinator = (Options.Resume && checkpoints is not null ? ResumeFrom(checkpoints, learner) : null)
            ?? new DistributedCoordinator(backend, learner, Options.Algorithm);

        var epochSum = new double[o.Epochs];
        var epochCount = new int[o.Epochs];
        var curve = new List<LossPoint>();
        double roundSum = 0;
        int roundCount = 0;
        var clock = Stopwatch.StartNew();
        int tau = Options.Algorithm.Algorithm == DistributedAlgorithm.SynchronousDataParallel ? 1 : Options.Algorithm.LocalSteps;
        for (long step = coordinator.StepsCompleted; step < plan.TotalSteps; step++)
        {
            if (step % tau == 0) cancellation.ThrowIfCancelledAt(step);
            float loss = coordinator.Step();
            if (!float.IsFinite(loss))
                throw new InvalidOperationException($"Worker {rank}: training diverged at step {step + 1} (loss {loss}). Lower LearningRate or the outer learning rate.");
            int epoch = (int)(step / plan.StepsPerEpoch);
            epochSum[epoch] += loss;
            epochCount[epoch]++;
            roundSum += loss;
            roundCount++;
            if ((step + 1) % tau == 0 || step + 1 == plan.TotalSteps)
            {
                curve.Add(new LossPoint(clock.Elapsed.TotalSeconds, step + 1, roundSum / roundCount));
                roundSum = 0;
                roundCount = 0;
            }
            if (rank == 0 && o.Progress is { } progress && (o.ProgressEverySteps > 0 && (step + 1) % o.ProgressEverySteps == 0 || (step + 1) % plan.StepsPerEpoch == 0))
                progress.Report(new TrainingProgress(epoch + 1, o.Epochs, step + 1, plan.TotalSteps, epochSum[epoch] / epochCount[epoch], null,
                    TorchTrainingLoop.LearningRateAt(o, step, plan.TotalSteps, plan.StepsPerEpoch), clock.Elapsed));
            if (checkpoints is not null && Options.CheckpointEverySteps > 0 && (step + 1) % Options.CheckpointEverySteps == 0)
                checkpoints.Save(coordinator);
        }
        coordinator.Finish();
        checkpoints?.Save(coordinator);
        var epochLoss = epochSum.Select((s, e) => epochCount[e] > 0 ? s / epochCount[e] : double.NaN).ToArray();
        return new WorkerResult(module, epochLoss, coordinator.Metrics, curve);
    }

    private DistributedCoordinator? ResumeFrom(DistributedCheckpointStore checkpoints, IInnerLearner learner)
    {
        var coordinator = checkpoints.TryResume(learner, Options.Algorithm);
        if (coordinator is not null)
            Log(ch => ch.Info($"Resumed from {checkpoints.StateFileFor(coordinator.StepsCompleted)} (step {coordinator.StepsCompleted})."));
        return coordinator;
    }

    private void Log(Action<IChannel> write)
    {
        using var channel = _host.Start("Co2Trainer");
        write(channel);
    }

    /// <summary>
    /// Which training-split positions each rank uses at each step. Ranks get interleaved shards of the (already shuffled)
    /// split and the same number of steps per epoch (a smaller shard wraps around), because every rank must call the
    /// collectives the same number of times.
    /// </summary>
    private sealed class ShardPlan
    {
        private readonly int _rows, _size, _batch, _seed;
        private readonly ConcurrentDictionary<(int Rank, int Epoch), long[]> _orders = new();

        public ShardPlan(int rows, int size, int batch, int epochs, int seed)
        {
            _rows = rows;
            _size = size;
            _batch = batch;
            _seed = seed;
            int largestShard = (rows + size - 1) / size;
            StepsPerEpoch = (largestShard + batch - 1) / batch;
            TotalSteps = StepsPerEpoch * epochs;
        }

        public long StepsPerEpoch { get; }
        public long TotalSteps { get; }

        public Tensor Batch(int rank, long step)
        {
            int epoch = (int)(step / StepsPerEpoch);
            var order = _orders.GetOrAdd((rank, epoch), key =>
            {
                var shard = Enumerable.Range(0, _rows).Where(p => p % _size == key.Rank).Select(p => (long)p).ToArray();
                // Not HashCode.Combine: it is randomised per process, and every MPI rank and rerun must agree.
                new Random(unchecked(_seed * 1_000_003 + key.Rank * 7_919 + key.Epoch)).Shuffle(shard);
                return shard;
            });
            _orders.TryRemove((rank, epoch - 2), out _);
            long first = step % StepsPerEpoch * _batch;
            var rows = new long[_batch];
            for (int i = 0; i < _batch; i++) rows[i] = order[(first + i) % order.Length];
            return torch.tensor(rows, ScalarType.Int64);
        }
    }

    /// <summary>
    /// Lets in-process ranks agree on where to stop when cancellation is requested: the first rank to reach a round
    /// start decides for that round and the others follow, so no rank is left waiting in a collective.
    /// </summary>
    private sealed class SharedCancellation(CancellationToken token, int tau)
    {
        private readonly ConcurrentDictionary<long, bool> _decisions = new();

        public void ThrowIfCancelledAt(long step)
        {
            if (!token.CanBeCanceled) return;
            if (_decisions.GetOrAdd(step, _ => token.IsCancellationRequested))
                throw new OperationCanceledException($"Distributed training was cancelled at step {step} (round of τ = {tau}).", token);
        }
    }
}

/// <summary>
/// Distributed training wrappers, reached with <c>mlContext.Distributed()</c>. The task (multiclass, binary, regression)
/// comes from the inner trainer, so one entry serves them all.
/// </summary>
public sealed class DistributedCatalog
{
    private readonly IHostEnvironment _env;

    internal DistributedCatalog(IHostEnvironment env) => _env = env;

    /// <summary>
    /// Trains <paramref name="trainer"/> (a TorchSharp trainer of this package) data-parallel with CO2, or with a baseline
    /// algorithm set in <see cref="Co2TrainerOptions.Algorithm"/>; returns the inner trainer's transformer type.
    /// </summary>
    public Co2Trainer<TTransformer> Co2<TTransformer>(ITorchTrainer<TTransformer> trainer, Co2TrainerOptions? options = null)
        where TTransformer : class, ITransformer
        => new(_env, trainer, options);

    /// <summary>CO2 with <paramref name="workers"/> in-process workers and <paramref name="localSteps"/> local steps per round (τ).</summary>
    public Co2Trainer<TTransformer> Co2<TTransformer>(ITorchTrainer<TTransformer> trainer, int workers, int localSteps = 8)
        where TTransformer : class, ITransformer
        => new(_env, trainer, new Co2TrainerOptions { Workers = workers, Algorithm = DistributedTrainingOptions.Co2(localSteps) });
}

/// <summary>The <c>mlContext.Distributed()</c> entry point.</summary>
public static class DistributedCatalogExtensions
{
    /// <summary>Distributed training wrappers (CO2 and its baselines) that use this context's seed, log and device settings.</summary>
    public static DistributedCatalog Distributed(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new DistributedCatalog(mlContext);
    }
}
