// CO2 benchmark: the same MLP, data (Fashion-MNIST) and total samples trained data-parallel by CO2, CO2 with sharded
// outer state, Local-SGD and synchronous data-parallel AdamW (DDP), with 2 and 4 workers, in-process and under MPI,
// through a link throttled so that one all-reduce costs about τ/2 compute steps (calibrated from the no-communication
// run of the same configuration). Writes the configuration's section of docs/benchmarks/co2.{json,md} and its
// co2-CONFIGURATION-loss-vs-time.png.
//
//   dotnet run -c Release --project bench/Co2Bench -- [--rows 12000] [--epochs 2] [--tau 8] [--workers 2,4]
//       [--transports inproc,mpi] [--repeats 3] [--algorithms ddp,localsgd,co2,...] [--configuration default] [--mpi-poll-ms 0.2] [--mpi-shm 1]
//       [--mpi-bind none] [--mpi-poll-max-ms 2] [--link bandwidth|latency] [--inproc-bind none|core]
// --algorithms picks a subset (the no-communication run is always made: it calibrates the link; without ddp the run
// measures throughput only and the columns comparing with DDP stay empty); --configuration names the
// section of the report the run fills (a later run of the same configuration replaces it);
// --mpi-poll-ms sets MpiTransport.PollInterval (0 = blocking MPI collectives, which busy-wait inside MPICH);
// --mpi-poll-max-ms sets MpiTransport.MaxPollInterval (equal to --mpi-poll-ms = a fixed interval).
// --mpi-shm 0 uses MPICH's collectives instead of the node shared-memory ones (MpiTransport.SharedMemoryCollectives).
// --mpi-bind core|socket|... is passed to mpiexec as -bind-to (pins each rank's threads to cores; none = the OS places them).
// --inproc-bind core pins each in-process worker and its communication thread to a core (Co2TrainerOptions.PinWorkersToCores).
// --link bandwidth (default) makes the link's cost proportional to the bytes a ring collective moves, so
// one all-reduce of the model costs τ/2 steps and a reduce-scatter or all-gather half of that; --link latency gives every
// collective the same fixed cost, which charges a sharded round's two collectives twice.
// Internal: --worker mpi ... is how the benchmark runs itself under mpiexec.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using MLNetExt;
using MLNetExt.Bench;

var settings = Settings.Parse(args);
settings.Check();
TorchSharp.torch.set_num_threads(1); // workers share the machine's cores: one intra-op thread each
if (!FashionMnist.IsInstalled())
{
    Console.Error.WriteLine($"Fashion-MNIST is not installed in {FashionMnist.DebianDirectory}: run bash scripts/setup.sh.");
    return 1;
}
if (settings.Worker == "mpi")
    return RunMpiWorker(settings);

var report = new BenchReport("co2", "dotnet run -c Release --project bench/Co2Bench -- " + string.Join(' ', args), settings.Configuration);
var curves = new List<(string Name, double[] X, double[] Y)>();
foreach (var transport in settings.Transports)
foreach (var workers in settings.Workers)
{
    if (transport == "mpi" && !MpiAvailable())
    {
        report.AddNote("MPI runs skipped: mpiexec is not on PATH (bash scripts/setup.sh installs MPICH).");
        continue;
    }
    // Two warm-up runs (JIT tiers, allocator, page cache), not measured; the second calibrates the link from the
    // compute time per step of the no-communication run (one average at the very end).
    var warmUp = Enumerable.Range(0, 2).Select(_ => Run(transport, workers, "ideal", null, seed: 0)).ToList();
    double stepSeconds = warmUp[^1].SecondsPerStep;
    double latencyMs = settings.Tau / 2.0 * stepSeconds * 1000; // what one all-reduce of the model costs on the link
    var link = settings.Link == "latency"
        ? new LinkModel(TimeSpan.FromMilliseconds(latencyMs), double.PositiveInfinity)
        : new LinkModel(TimeSpan.Zero, LinkModel.RingBytesOnWire("AllReduce", MlpParameters(), workers) / (latencyMs / 1000));
    Console.WriteLine($"[{transport}, {workers} workers] compute {stepSeconds * 1000:F2} ms/step → one all-reduce costs {latencyMs:F1} ms on the link " +
                      $"({settings.Link}: {link.Latency.TotalMilliseconds:0.#} ms + {link.BytesPerSecond / 1e6:0.#} MB/s)");
    // Interleaved seed by seed (no-communication run, then every algorithm), so that slow drifts of a shared machine
    // hit the baseline and the algorithms alike; '× ideal' is the median over seeds of the per-seed ratio.
    var ideal = new List<RunResult>();
    var rows = new List<(string Algorithm, List<RunResult> Runs)> { ("ideal (no communication)", ideal) };
    rows.AddRange(settings.Algorithms.Select(a => (a, new List<RunResult>())));
    for (int seed = 0; seed < settings.Repeats; seed++)
    {
        ideal.Add(Run(transport, workers, "ideal", null, seed));
        foreach (var (algorithm, runs) in rows.Skip(1))
            runs.Add(Run(transport, workers, algorithm, link, seed));
    }
    // Without DDP in the run (a throughput-only run) the columns that compare with it stay empty.
    var ddpRuns = rows.FirstOrDefault(r => r.Algorithm == "ddp").Runs;
    double? ddpAccuracy = ddpRuns is null ? null : Measure.Median(ddpRuns.Select(r => r.TestAccuracy));
    double? ddpLoss = ddpRuns is null ? null : Measure.Median(ddpRuns.Select(r => r.TestLogLoss));
    var unshardedFloats = rows.FirstOrDefault(r => r.Algorithm == "co2").Runs?[0].OuterStateFloats ?? 0;
    foreach (var (algorithm, runs) in rows)
    {
        double rate = Measure.Median(runs.Select(r => r.SamplesPerSecond));
        double relative = Measure.Median(runs.Select((r, seed) => r.SamplesPerSecond / ideal[seed].SamplesPerSecond));
        double accuracy = Measure.Median(runs.Select(r => r.TestAccuracy)), loss = Measure.Median(runs.Select(r => r.TestLogLoss));
        report.AddRow("throughput and quality (medians)", new Dictionary<string, object?>
        {
            ["transport"] = transport, ["workers"] = workers, ["algorithm"] = algorithm,
            ["link ms"] = algorithm.StartsWith("ideal") ? 0 : Math.Round(latencyMs, 1),
            ["samples/s"] = Math.Round(rate), ["× ideal"] = Math.Round(relative, 3),
            ["comm. wait"] = Math.Round(Measure.Median(runs.Select(r => r.WaitFraction)), 3),
            ["boundary CPU"] = Math.Round(Measure.Median(runs.Select(r => r.BoundaryCpuFraction)), 3),
            ["comm. thread CPU"] = Math.Round(Measure.Median(runs.Select(r => r.CommunicationCpuFraction)), 3),
            ["test accuracy"] = Math.Round(accuracy, 4), ["Δ acc vs DDP (pt)"] = ddpAccuracy is { } a ? Math.Round((accuracy - a) * 100, 2) : null,
            ["test log-loss"] = Math.Round(loss, 4), ["loss vs DDP"] = ddpLoss is { } l ? Math.Round(loss / l, 3) : null,
            ["outer floats/rank"] = runs[0].OuterStateFloats,
            ["outer state ÷ unsharded"] = algorithm == "co2-sharded" && unshardedFloats > 0 ? Math.Round((double)runs[0].OuterStateFloats / unshardedFloats, 3) : null,
            ["runs"] = runs.Count,
        });
        if (transport == settings.Transports[0] && workers == settings.Workers[0] && algorithm is "ddp" or "localsgd" or "co2")
            curves.Add((algorithm, runs[0].Curve.Select(p => p.Seconds).ToArray(), runs[0].Curve.Select(p => p.Loss).ToArray()));
    }
}
var plot = Path.Combine(BenchReport.DefaultDirectory(), report.PlotFileName("loss-vs-time"));
Plots.Lines(plot, $"Training loss vs wall time ({settings.Transports[0]}, {settings.Workers[0]} workers, throttled link)", "seconds", "training loss (rank 0, per round)", curves);
report.AddPlot(report.PlotFileName("loss-vs-time"));
report.AddNote($"Fashion-MNIST (Debian dataset-fashion-mnist), {settings.Rows} training images × {settings.Epochs} epochs split over the workers " +
               "(same total samples for every algorithm), 10,000 test images; MLP 784→512→256→10, AdamW lr 2e-3, batch 64 per worker.");
report.AddNote($"CO2: τ = {settings.Tau}, outer momentum 0 (co2-momentum-0.2: the official recipe's 0.2), outer LR 1, gap-aware staleness penalty λ = 1, elementwise momentum clip φ = 1; " +
               $"Local-SGD: τ = {settings.Tau}, blocking average; DDP: gradient all-reduce every step (synchronous AdamW).");
report.AddNote((settings.Link == "latency"
                   ? "Link: each collective takes at least the calibrated latency (τ/2 × the compute time per step measured in a warm-up no-communication run); "
                   : "Link: bandwidth-limited, calibrated so that one ring all-reduce of the model ('link ms') takes τ/2 × the compute time per step measured in a warm-up " +
                     "no-communication run; other collectives take time in proportion to the bytes a ring moves (a reduce-scatter or all-gather half an all-reduce); ") +
               "'× ideal' is the median over seeds of throughput ÷ that of the no-communication run of the same transport, worker count and seed; " +
               "runs are interleaved seed by seed (ideal, then each algorithm) so that drifts of the machine hit all alike. " +
               $"One TorchSharp intra-op thread per worker on a {Environment.ProcessorCount}-core machine; medians of {settings.Repeats} runs with seeds 0..{settings.Repeats - 1} (initial weights and data order).");
report.AddNote("Per rank, as shares of wall time: 'comm. wait' = the training thread blocked on communication; 'boundary CPU' = round " +
               "boundaries minus those waits (copies, outer step); 'comm. thread CPU' = CPU time of the rank's communication thread " +
               "(a share of one core, taken from training when every core is busy).");
if (settings.Transports.Contains("mpi"))
    report.AddNote(settings.MpiPollMs > 0
        ? $"MPI: collectives run in their non-blocking form (MPI_Iallreduce, ...), tested while sleeping, first after {settings.MpiPollMs} ms, the sleep growing by half per test up to {settings.MpiPollMaxMs} ms (MpiTransport.PollInterval, MaxPollInterval)."
        : "MPI: blocking collectives (PollInterval = 0): MPICH busy-waits inside them for late peers and between stages.");
if (settings.Transports.Contains("mpi"))
    report.AddNote(settings.MpiSharedMemory
        ? "MPI: reductions, gathers and broadcasts move their numbers through an MPI-3 node shared-memory window, synchronised by MPI barriers (MpiTransport.SharedMemoryCollectives)."
        : "MPI: MPICH's own collectives move the numbers (SharedMemoryCollectives = false).");
if (settings.Transports.Contains("inproc") && settings.InProcessBind == "core")
    report.AddNote("In-process: each worker thread and its communication thread pinned to one core, round-robin (Co2TrainerOptions.PinWorkersToCores).");
if (settings.Transports.Contains("mpi") && settings.MpiBind != "none")
    report.AddNote($"MPI: ranks started with mpiexec -bind-to {settings.MpiBind} (each rank's threads pinned; ranks spread over the cores).");
var (json, md) = report.Write();
Console.WriteLine($"Wrote {json} and {md}");
return 0;

RunResult Run(string transport, int workers, string algorithm, LinkModel? link, int seed)
{
    var result = transport == "mpi" ? RunUnderMpi(workers, algorithm, link, seed) : Train(algorithm, workers, link, backend: null, seed);
    Console.WriteLine($"  {transport} N={workers} {algorithm,-16} seed {seed} {result.SamplesPerSecond,8:F0} samples/s  wait {result.WaitFraction,6:P1}  boundary CPU {result.BoundaryCpuFraction,6:P1}  comm. thread CPU {result.CommunicationCpuFraction,6:P1}  test acc {result.TestAccuracy:P2}  log-loss {result.TestLogLoss:F4}");
    return result;
}

RunResult Train(string algorithm, int workers, LinkModel? link, ICollectiveBackend? backend, int seed)
{
    var ml = new MLContext(seed: 0);
    var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, settings.Rows));
    var test = ml.Data.Cache(FashionMnist.LoadTest(ml));
    var mlp = new MlpClassifierOptions { HiddenSizes = MlpHidden(), Epochs = settings.Epochs, BatchSize = 64, LearningRate = 2e-3, Seed = seed };
    int size = backend?.Size ?? workers;
    long totalSteps = settings.Epochs * (long)Math.Ceiling(Math.Ceiling(settings.Rows / (double)size) / mlp.BatchSize);
    var options = new Co2TrainerOptions
    {
        Workers = workers,
        Backend = backend,
        Algorithm = algorithm switch
        {
            "ideal" => DistributedTrainingOptions.LocalSgd((int)totalSteps),
            "ddp" => DistributedTrainingOptions.SynchronousDataParallel(),
            "localsgd" => DistributedTrainingOptions.LocalSgd(settings.Tau),
            "co2" => DistributedTrainingOptions.Co2(settings.Tau, outerMomentum: 0f),
            "co2-sharded" => DistributedTrainingOptions.Co2(settings.Tau, outerMomentum: 0f) with { ShardOuterState = true },
            "co2-momentum-0.2" => DistributedTrainingOptions.Co2(settings.Tau, outerMomentum: 0.2f),
            "co2-no-penalty" => DistributedTrainingOptions.Co2(settings.Tau, outerMomentum: 0f, penalty: StalenessGapPenalty.None),
            _ => throw new ArgumentException($"unknown algorithm {algorithm}"),
        },
        SimulatedLink = backend is null ? link : null,
        PinWorkersToCores = settings.InProcessBind == "core", // Co2Trainer ignores it when a Backend (MPI) is given
    };
    var trainer = ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(mlp), options);
    var model = trainer.Fit(train);
    var run = trainer.LastRun!;
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    return new RunResult(run.SamplesPerSecond(mlp.BatchSize), run.Ranks.Average(r => r.ElapsedSeconds / r.Steps), run.Ranks.Average(r => r.BoundaryWaitFraction),
        metrics.MicroAccuracy, metrics.LogLoss, run.Ranks[0].OuterStateFloatsPerRank, run.LossCurve.ToList(),
        run.Ranks.Average(r => Math.Max(0, r.BoundarySeconds - r.CommunicationWaitSeconds) / r.ElapsedSeconds),
        run.Ranks.Average(r => r.CommunicationCpuFraction));
}

int RunMpiWorker(Settings s)
{
    var mpi = MpiTransport.InitializeWorld();
    mpi.PollInterval = TimeSpan.FromMilliseconds(s.MpiPollMs);
    mpi.MaxPollInterval = TimeSpan.FromMilliseconds(s.MpiPollMaxMs);
    mpi.SharedMemoryCollectives = s.MpiSharedMemory;
    ICollectiveTransport transport = mpi;
    if (s.LatencyMs > 0 || double.IsFinite(s.BandwidthBytesPerSecond))
        transport = new ThrottledTransport(transport, new LinkModel(TimeSpan.FromMilliseconds(s.LatencyMs), s.BandwidthBytesPerSecond));
    using var backend = new CollectiveBackend(transport, TimeSpan.FromMinutes(5));
    var result = Train(s.Algorithm, backend.Size, null, backend, s.Seed);
    // Each rank reports its own throughput; rank 0 also reports the quality of the (identical) synchronised model.
    // One file per rank: lines that several ranks print to the shared stdout can interleave and corrupt the JSON.
    File.WriteAllText(Path.Combine(s.ResultDirectory, $"rank{backend.Rank}.json"),
        JsonSerializer.Serialize(result with { Curve = backend.Rank == 0 ? result.Curve : new List<LossPoint>() }));
    backend.Barrier();
    return 0;
}

RunResult RunUnderMpi(int workers, string algorithm, LinkModel? link, int seed)
{
    var self = typeof(Settings).Assembly.Location;
    var resultDirectory = Directory.CreateTempSubdirectory("co2bench-").FullName;
    var bind = settings.MpiBind == "none" ? "" : $"-bind-to {settings.MpiBind} ";
    var info = new ProcessStartInfo("mpiexec", $"-n {workers} {bind}dotnet {self} --worker mpi --algorithm {algorithm} " +
                                              $"--latency-ms {(link?.Latency.TotalMilliseconds ?? 0).ToString("R", CultureInfo.InvariantCulture)} " +
                                              $"--bandwidth-bps {(link?.BytesPerSecond ?? double.PositiveInfinity).ToString("R", CultureInfo.InvariantCulture)} " +
                                              $"--rows {settings.Rows} --epochs {settings.Epochs} --tau {settings.Tau} --seed {seed} --result-dir {resultDirectory} " +
                                              $"--mpi-poll-ms {settings.MpiPollMs.ToString(CultureInfo.InvariantCulture)} --mpi-poll-max-ms {settings.MpiPollMaxMs.ToString(CultureInfo.InvariantCulture)} --mpi-shm {(settings.MpiSharedMemory ? 1 : 0)}")
    { RedirectStandardOutput = true, RedirectStandardError = true };
    using var process = Process.Start(info)!;
    var stderr = process.StandardError.ReadToEndAsync();
    process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    List<RunResult> lines;
    try
    {
        lines = Directory.GetFiles(resultDirectory, "rank*.json").Select(f => JsonSerializer.Deserialize<RunResult>(File.ReadAllText(f))!).ToList();
    }
    finally
    {
        Directory.Delete(resultDirectory, recursive: true); // also when a rank's file is unreadable
    }
    if (process.ExitCode != 0 || lines.Count != workers)
        throw new InvalidOperationException($"mpiexec -n {workers} ({algorithm}) exited with {process.ExitCode} and {lines.Count} results: {stderr.Result}");
    var rank0 = lines.First(l => l.Curve.Count > 0);
    return rank0 with { SamplesPerSecond = lines.Sum(l => l.SamplesPerSecond), SecondsPerStep = lines.Average(l => l.SecondsPerStep), WaitFraction = lines.Average(l => l.WaitFraction), BoundaryCpuFraction = lines.Average(l => l.BoundaryCpuFraction), CommunicationCpuFraction = lines.Average(l => l.CommunicationCpuFraction) };
}

// The benchmark's MLP (784 → 512 → 256 → 10): its parameter count sizes the calibrated link's bandwidth.
static int[] MlpHidden() => [512, 256];
static long MlpParameters() => new[] { 784 }.Concat(MlpHidden()).Append(10).Zip(MlpHidden().Append(10), (i, o) => (long)i * o + o).Sum();

static bool MpiAvailable() => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "mpiexec")));

internal sealed record RunResult(double SamplesPerSecond, double SecondsPerStep, double WaitFraction, double TestAccuracy, double TestLogLoss,
    long OuterStateFloats, List<LossPoint> Curve, double BoundaryCpuFraction, double CommunicationCpuFraction);

internal sealed record Settings(int Rows, int Epochs, int Tau, int[] Workers, string[] Transports, int Repeats, string? Worker, string Algorithm, double LatencyMs, int Seed,
    string[] Algorithms, string Configuration, string ResultDirectory, double MpiPollMs, bool MpiSharedMemory, string MpiBind, double MpiPollMaxMs,
    string Link, double BandwidthBytesPerSecond, string InProcessBind)
{
    public static Settings Parse(string[] args)
    {
        var v = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--") || i + 1 >= args.Length)
                throw new ArgumentException($"Bad argument '{args[i]}'. Options: --rows --epochs --tau --workers 2,4 --transports inproc,mpi --repeats --algorithms --configuration --mpi-poll-ms --mpi-poll-max-ms --mpi-shm --mpi-bind --link --inproc-bind");
            v[args[i][2..]] = args[i + 1];
        }
        int Int(string k, int d) => v.TryGetValue(k, out var s) ? int.Parse(s, CultureInfo.InvariantCulture) : d;
        return new(Int("rows", 12000), Int("epochs", 2), Int("tau", 8),
            v.GetValueOrDefault("workers", "2,4").Split(',').Select(int.Parse).ToArray(),
            v.GetValueOrDefault("transports", "inproc,mpi").Split(','), Int("repeats", 3), v.GetValueOrDefault("worker"),
            v.GetValueOrDefault("algorithm", "co2"), double.Parse(v.GetValueOrDefault("latency-ms", "0"), CultureInfo.InvariantCulture), Int("seed", 0),
            v.GetValueOrDefault("algorithms", string.Join(',', AllAlgorithms)).Split(','), v.GetValueOrDefault("configuration", "default"),
            v.GetValueOrDefault("result-dir", Path.GetTempPath()), double.Parse(v.GetValueOrDefault("mpi-poll-ms", "0.2"), CultureInfo.InvariantCulture),
            Int("mpi-shm", 1) != 0, v.GetValueOrDefault("mpi-bind", "none"),
            double.Parse(v.GetValueOrDefault("mpi-poll-max-ms", "2"), CultureInfo.InvariantCulture),
            v.GetValueOrDefault("link", "bandwidth"), double.Parse(v.GetValueOrDefault("bandwidth-bps", "Infinity"), CultureInfo.InvariantCulture),
            v.GetValueOrDefault("inproc-bind", "none"));
    }

    /// <summary>Every algorithm the benchmark knows, in report order (the no-communication run is always made first).</summary>
    public static readonly string[] AllAlgorithms = { "ddp", "localsgd", "co2", "co2-sharded", "co2-momentum-0.2", "co2-no-penalty" };

    public void Check()
    {
        var unknown = Algorithms.Except(AllAlgorithms).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown algorithm(s) {string.Join(", ", unknown)}; known: {string.Join(", ", AllAlgorithms)}.");
        if (Link is not ("bandwidth" or "latency"))
            throw new ArgumentException($"Unknown --link {Link}: use bandwidth or latency.");
        if (InProcessBind is not ("none" or "core"))
            throw new ArgumentException($"Unknown --inproc-bind {InProcessBind}: use none or core.");
    }
}
