// CO2 data-parallel training of an ML.NET TorchSharp trainer on Fashion-MNIST, over MPI (one process per rank) or
// in-process workers, through a throttled link that stands for a slow inter-node network.
//
//   2 MPI ranks:  mpiexec -n 2 dotnet samples/Co2Training/bin/Release/net10.0/Co2Training.dll
//   in-process:   dotnet run -c Release --project samples/Co2Training -- [--workers 2]
// Options: --rows 12000 --epochs 3 --tau 16 --latency-ms 30 --bandwidth-mbps 50 --algorithm co2|localsgd|sync, and
// --smoke (2,000 images, 1 epoch, 500 test images). Rank 0 prints throughput and loss, saves the model as an ML.NET zip,
// exports ONNX and consumes both as an app would.
using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt;
using MLNetExt.Samples;
using Spectre.Console;

var run = SampleRun.Parse(args, "mlnetext-co2");
var arguments = Arguments.Parse(run.Arguments, run.Smoke);
if (!FashionMnistSteps.DataIsInstalled()) return 1;
TorchSharp.torch.set_num_threads(1); // two ranks share two cores: one intra-op thread each

var link = new LinkModel(TimeSpan.FromMilliseconds(arguments.LatencyMs), arguments.BandwidthMbps * 1e6);
CollectiveBackend? mpi = null;
if (MpiTransport.IsLaunchedByMpiexec)
    mpi = new CollectiveBackend(new ThrottledTransport(MpiTransport.InitializeWorld(), link), TimeSpan.FromMinutes(2));
int rank = mpi?.Rank ?? 0;
void Say(string markup) { if (rank == 0) AnsiConsole.MarkupLine(markup); }

var ml = new MLContext(seed: 0);
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, arguments.Rows));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, run.Smoke ? 500 : null));
var mlp = new MlpClassifierOptions { HiddenSizes = new[] { 256, 128 }, Epochs = arguments.Epochs, BatchSize = 64, LearningRate = 2e-3, Seed = 0, ProgressEverySteps = 5 };
var algorithm = arguments.Algorithm switch
{
    "co2" => DistributedTrainingOptions.Co2(arguments.Tau),
    "localsgd" => DistributedTrainingOptions.LocalSgd(arguments.Tau),
    "sync" => DistributedTrainingOptions.SynchronousDataParallel(),
    _ => throw new ArgumentException($"--algorithm {arguments.Algorithm}: use co2, localsgd or sync."),
};
var distributed = new Co2TrainerOptions
{
    Algorithm = algorithm,
    Backend = mpi,
    Workers = arguments.Workers,
    SimulatedLink = mpi is null ? link : null, // the MPI transport above is already throttled
};
Say($"[bold]{arguments.Algorithm.ToUpperInvariant()}[/] on {(mpi is null ? $"{arguments.Workers} in-process workers" : $"{mpi.Size} MPI ranks")}, " +
    $"link {arguments.LatencyMs} ms + {arguments.BandwidthMbps} MB/s, τ = {arguments.Tau}, {arguments.Rows} images × {arguments.Epochs} epochs.");

var trainer = ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(mlp), distributed);
MlpMulticlassTransformer model = null!;
var watch = Stopwatch.StartNew();
if (rank == 0)
{
    AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
        .Start(ctx =>
        {
            var task = ctx.AddTask("Training", maxValue: 1.0);
            mlp.Progress = new Progress<TrainingProgress>(p => { task.Value = p.Fraction; task.Description = $"Epoch {p.Epoch}/{p.TotalEpochs} loss {p.TrainLoss:F3}"; });
            model = trainer.Fit(train);
            task.Value = 1.0;
        });
}
else
{
    model = trainer.Fit(train);
}

var lastRun = trainer.LastRun!;
foreach (var (m, i) in lastRun.Ranks.Select((m, i) => (m, i)))
    Console.WriteLine($"rank {(mpi is null ? i : rank)}: {m.StepsPerSecond * mlp.BatchSize:F0} samples/s, communication wait {m.BoundaryWaitFraction:P1} " +
                      $"of {m.ElapsedSeconds:F1} s, communication thread {m.CommunicationCpuFraction:P1} of a core, last local loss {m.LastLoss:F4}, outer state {m.OuterStateFloatsPerRank:N0} floats");
mpi?.Barrier();
if (rank == 0)
{
    var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
    Say($"Test accuracy [bold]{metrics.MicroAccuracy:P2}[/], log-loss {metrics.LogLoss:F4}, wall time {watch.Elapsed.TotalSeconds:F1} s.");
    run.Check(metrics.MicroAccuracy > 0.5, $"test accuracy {metrics.MicroAccuracy:P1} is not above 50 % (10 classes: chance is 10 %)");
    FashionMnistSteps.CheckOnnxBatch(run, model, test, rows: 16);
    // Save the zip and the ONNX file, then consume both (samples/Common/FashionMnistModel).
    FashionMnistSteps.SaveAndConsume(run, ml, model, train.Schema, test, "co2-mlp");
}
mpi?.Barrier();
mpi?.Dispose();
return rank == 0 ? run.Finish() : 0;

internal sealed record Arguments(int Rows, int Epochs, int Tau, int Workers, double LatencyMs, double BandwidthMbps, string Algorithm)
{
    public static Arguments Parse(string[] args, bool smoke)
    {
        var values = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"Unexpected '{args[i]}'. Options: --rows --epochs --tau --workers --latency-ms --bandwidth-mbps --algorithm --smoke");
            values[args[i][2..]] = args[i + 1];
        }
        double Get(string name, double fallback) => values.TryGetValue(name, out var v) ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        return new((int)Get("rows", smoke ? 2000 : 12000), (int)Get("epochs", smoke ? 1 : 3), (int)Get("tau", 16), (int)Get("workers", 2), Get("latency-ms", 30),
            Get("bandwidth-mbps", 50), values.GetValueOrDefault("algorithm", "co2"));
    }
}
