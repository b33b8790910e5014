// Federated benchmarks on Fashion-MNIST: FAL vs FedAvg (natural and PGD-20 robust accuracy), FFA-LoRA vs LoRA under
// DP at ε ∈ {∞, 6, 3, 1} (accuracy, bytes sent, spread over seeds), the gRPC runtime on loopback (rounds/s with 8
// clients; a run where 2 clients drop mid-round and one sends NaNs), and poisoning over gRPC (1 of 5 clients malicious:
// scaled delta, huge sample count, sign flip, NaN; default bounds vs undefended vs all honest), and load (a server process,
// 32 clients, 20 rounds of the 535k-parameter MLP's updates; 200 connect/drop cycles).
// Writes docs/benchmarks/<reportName>.{json,md} + PNGs. `grpc-server ...` runs a server process for the restart test.
//   dotnet run -c Release --project bench/FederatedBench -- [fal,lora,grpc,poison,load] [seeds=3] [loraSeeds=seeds] [reportName=federated] [pilotSeeds=2] [poisonRows=6000]
using System.Diagnostics;
using Microsoft.ML;
using MLNetExt;
using MLNetExt.Bench;

if (args.Length > 0 && args[0] == "grpc-server") return await MLNetExt.Bench.Federated.GrpcServerHost.RunAsync(args[1..]);
var parts = (args.Length > 0 ? args[0] : "fal,lora,grpc").Split(',').ToHashSet();
int seeds = args.Length > 1 ? int.Parse(args[1]) : 3;
int loraSeeds = args.Length > 2 ? int.Parse(args[2]) : seeds; // the DP comparison is about spread: more seeds help
if (!FashionMnist.IsInstalled())
{
    Console.Error.WriteLine($"Fashion-MNIST is not installed in {FashionMnist.DebianDirectory}: run bash scripts/setup.sh.");
    return 1;
}
string reportName = args.Length > 3 ? args[3] : "federated";
int pilotSeeds = args.Length > 4 ? int.Parse(args[4]) : 2;
string LoraPlot = reportName == "federated" ? "federated-lora.png" : $"{reportName}.png";
var report = new BenchReport(reportName, "dotnet run -c Release --project bench/FederatedBench -- " + string.Join(' ', args));
var dir = BenchReport.DefaultDirectory();
var ml = new MLContext(seed: 0);
var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 12000));
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, 2000));
// The FAL and FFA-LoRA comparisons simulate trusted clients in-process and measure the methods, not poisoning defences:
// they aggregate without the poisoning bounds, as when their published figures were produced.
var Trusted = AggregationOptions.Undefended;
MlpClassifierOptions Mlp(int seed) => new() { HiddenSizes = new[] { 256, 128 }, BatchSize = 32, LearningRate = 2e-3, Seed = seed };

if (parts.Contains("fal"))
{
    var eval = AttackOptions.Pgd(0.1, steps: 20);
    var rows = new List<(string Name, double Natural, double Robust)>();
    for (int seed = 0; seed < seeds; seed++)
    foreach (var (name, attack, cleanWeight) in new[]
             {
                 ("FedAvg", AttackOptions.Pgd(0), 0.0), ("FAL (PGD-10)", AttackOptions.Pgd(0.1, steps: 10), 0.0),
                 ("FAL (PGD-10, 50 % clean loss)", AttackOptions.Pgd(0.1, steps: 10), 0.5), ("FAL (FGSM)", AttackOptions.Fgsm(0.1), 0.0),
             })
    {
        var watch = Stopwatch.StartNew();
        var options = new FalOptions
        {
            Clients = 5, Rounds = 10, LocalEpochs = 1, Split = ClientSplit.NonIid(0.5), Attack = attack, Seed = seed, CleanLossWeight = cleanWeight,
            Aggregation = Trusted with { Rule = AggregationRule.MeanOfDeltas },
        };
        var model = ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(seed)), options).Fit(train);
        var m = ml.MulticlassClassification.EvaluateRobustness(model, test, eval, seed: seed);
        rows.Add((name, m.NaturalAccuracy, m.RobustAccuracy));
        Console.WriteLine($"FAL bench seed {seed} {name,-30} natural {m.NaturalAccuracy:P2} robust {m.RobustAccuracy:P2} ({watch.Elapsed.TotalSeconds:F0} s)");
        report.AddRow("FAL vs FedAvg (per seed)", new Dictionary<string, object?>
        {
            ["method"] = name, ["seed"] = seed, ["natural accuracy"] = Math.Round(m.NaturalAccuracy, 4), ["PGD-20 robust accuracy (ε 0.1)"] = Math.Round(m.RobustAccuracy, 4),
            ["train s"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
        });
    }
    double fedAvgRobust = Measure.Median(rows.Where(r => r.Name == "FedAvg").Select(r => r.Robust));
    double fedAvgNatural = Measure.Median(rows.Where(r => r.Name == "FedAvg").Select(r => r.Natural));
    foreach (var g in rows.GroupBy(r => r.Name))
    {
        double robust = Measure.Median(g.Select(r => r.Robust)), natural = Measure.Median(g.Select(r => r.Natural));
        report.AddRow("FAL vs FedAvg (medians)", new Dictionary<string, object?>
        {
            ["method"] = g.Key, ["natural accuracy"] = Math.Round(natural, 4), ["robust accuracy"] = Math.Round(robust, 4),
            ["robust ÷ FedAvg's"] = fedAvgRobust > 0 ? Math.Round(robust / fedAvgRobust, 2) : null,
            ["natural drop vs FedAvg (pt)"] = Math.Round((fedAvgNatural - natural) * 100, 2), ["runs"] = g.Count(),
        });
    }
    Plots.Bars(Path.Combine(dir, "federated-fal.png"), "PGD-20 robust accuracy (ε = 0.1), median over seeds", "accuracy",
        rows.GroupBy(r => r.Name).Select(g => (g.Key, Measure.Median(g.Select(r => r.Robust)))).ToList());
    report.AddPlot("federated-fal.png");
    report.AddNote("FAL: 12,000 Fashion-MNIST training images over 5 clients, label-Dirichlet(0.5); 10 rounds × 1 local epoch; MLP 784→256→128→10, AdamW 2e-3, " +
                   "batch 32; mean of deltas, server LR 1; training attack ℓ∞ ε 0.1 (PGD-10, step 0.025, random start; or FGSM); evaluation PGD-20 ε 0.1 on 2,000 test images.");
}

if (parts.Contains("lora"))
{
    // Base: the MLP trained centrally on classes 0–4; federated fine-tuning on all ten classes (5 non-IID clients).
    var firstHalf = ml.Data.FilterRowsByKeyColumnFraction(train, "Label", 0, 0.5);
    var baseModel = ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 256, 128 }, Epochs = 4, BatchSize = 64, LearningRate = 2e-3, Seed = 0 }).Fit(firstHalf);
    double baseAccuracy = ml.MulticlassClassification.Evaluate(baseModel.Transform(test)).MicroAccuracy;
    report.AddNote($"FFA-LoRA / LoRA: base MLP 784→256→128→10 trained on classes 0–4 only (test accuracy on all ten classes {baseAccuracy:P1}); " +
                   "federated fine-tuning on the 12,000 training images of all ten classes over 5 clients, Dirichlet(0.5), 10 rounds × 1 local epoch, " +
                   "LoRA r 8, α 8 on every Linear, head frozen except through its adapter, SGD momentum 0.9; learning rate per method and ε from the " +
                   $"FFA-LoRA paper's grids (FFA-LoRA 0.1–1.0, LoRA 0.01–0.1) chosen on a validation split (last 2,000 training rows, mean of {pilotSeeds} pilot seeds). " +
                   "Per-sample clip C 1, Poisson rate 32/n_c per client, δ 1e-5, σ per client from the RDP accountant so that its ε over all 10 rounds meets the target. " +
                   "Bytes sent: FFA-LoRA sends B (Σ out·r floats), LoRA sends A and B (Σ (in+out)·r) — half exactly when layers are square, less here.");
    var cells = new List<(string Method, string Eps, double Accuracy)>();
    static string EpsText(double? eps) => eps is null ? "∞" : eps.Value.ToString("0");
    FfaLoraOptions LoraOptions(bool freezeA, double? eps, double learningRate, int seed) => new()
    {
        BaseModel = baseModel, Clients = 5, Rounds = 10, LocalEpochs = 1, Rank = 8, Alpha = 8, FreezeA = freezeA, Split = ClientSplit.NonIid(0.5), Aggregation = Trusted,
        LearningRate = learningRate, Seed = seed, ASeed = 1000 + seed,
        Privacy = eps is double e ? new DifferentialPrivacyOptions { TargetEpsilon = e, ClipNorm = 1 } : null,
    };
    // Learning rate per method and ε from the FFA-LoRA paper's grids, chosen on a validation split (the last 2,000 of the
    // 12,000 training rows; the test set is never used for selection), mean over the pilot seeds (seeds 100+).
    var selectionTrain = ml.Data.TakeRows(train, 10000);
    var validation = ml.Data.SkipRows(train, 10000);
    var chosen = new Dictionary<(bool, double?), double>();
    foreach (var eps in new double?[] { null, 6, 3, 1 })
    foreach (var freezeA in new[] { true, false })
    {
        var grid = freezeA ? new[] { 0.1, 0.2, 0.5, 1.0 } : new[] { 0.01, 0.02, 0.05, 0.1 };
        var scores = grid.Select(lr => Enumerable.Range(100, pilotSeeds).Average(seed =>
        {
            var t = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(0)), LoraOptions(freezeA, eps, lr, seed));
            return ml.MulticlassClassification.Evaluate(t.Fit(selectionTrain).Transform(validation)).MicroAccuracy;
        })).ToArray();
        int best = Array.IndexOf(scores, scores.Max());
        chosen[(freezeA, eps)] = grid[best];
        string epsText = EpsText(eps);
        Console.WriteLine($"LoRA bench ε {epsText} {(freezeA ? "FFA-LoRA" : "LoRA")}: validation accuracy {string.Join(", ", grid.Zip(scores, (lr, a) => $"lr {lr} {a:P1}"))} → lr {grid[best]}");
        report.AddRow("FFA-LoRA vs LoRA: learning rate chosen on validation", new Dictionary<string, object?>
        {
            ["ε"] = epsText, ["method"] = freezeA ? "FFA-LoRA" : "LoRA",
            ["validation accuracy by lr"] = string.Join("; ", grid.Zip(scores, (lr, a) => $"{lr}: {a:F4}")), ["chosen lr"] = grid[best],
        });
    }
    foreach (var eps in new double?[] { null, 6, 3, 1 })
    foreach (var freezeA in new[] { true, false })
    for (int seed = 0; seed < loraSeeds; seed++)
    {
        var watch = Stopwatch.StartNew();
        var options = LoraOptions(freezeA, eps, chosen[(freezeA, eps)], seed);
        var trainer = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(0)), options);
        var model = trainer.Fit(train);
        double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
        string method = freezeA ? "FFA-LoRA" : "LoRA", epsText = EpsText(eps);
        cells.Add((method, epsText, accuracy));
        Console.WriteLine($"LoRA bench ε {epsText} {method,-8} seed {seed}: accuracy {accuracy:P2}, σ {trainer.NoiseMultiplier:F3}, ε spent {trainer.EpsilonSpent:F2} ({watch.Elapsed.TotalSeconds:F0} s)");
        report.AddRow("FFA-LoRA vs LoRA (per seed)", new Dictionary<string, object?>
        {
            ["ε target"] = epsText, ["method"] = method, ["seed"] = seed, ["test accuracy"] = Math.Round(accuracy, 4),
            ["σ"] = Math.Round(trainer.NoiseMultiplier, 4), ["ε spent (max over clients)"] = double.IsInfinity(trainer.EpsilonSpent) ? "∞" : Math.Round(trainer.EpsilonSpent, 3),
            ["floats sent per client per round"] = trainer.ParametersSentPerRound, ["train s"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
        });
    }
    foreach (var g in cells.GroupBy(c => (c.Eps, c.Method)))
    {
        var values = g.Select(c => c.Accuracy).ToArray();
        double mean = values.Average(), std = Measure.StandardDeviation(values);
        report.AddRow("FFA-LoRA vs LoRA (over seeds)", new Dictionary<string, object?>
        {
            ["ε"] = g.Key.Eps, ["method"] = g.Key.Method, ["median accuracy"] = Math.Round(Measure.Median(values), 4),
            ["mean"] = Math.Round(mean, 4), ["std"] = Math.Round(std, 4), ["runs"] = values.Length,
        });
    }
    foreach (var eps in cells.Select(c => c.Eps).Distinct())
    {
        double[] Of(string method) => cells.Where(c => c.Eps == eps && c.Method == method).Select(c => c.Accuracy).ToArray();
        var (ffa, lora) = (Of("FFA-LoRA"), Of("LoRA"));
        report.AddRow("FFA-LoRA vs LoRA (comparison)", new Dictionary<string, object?>
        {
            ["ε"] = eps, ["FFA-LoRA mean"] = Math.Round(ffa.Average(), 4), ["LoRA mean"] = Math.Round(lora.Average(), 4),
            ["mean Δ (pt)"] = Math.Round((ffa.Average() - lora.Average()) * 100, 2), ["FFA-LoRA std (pt)"] = Math.Round(Measure.StandardDeviation(ffa) * 100, 2),
            ["LoRA std (pt)"] = Math.Round(Measure.StandardDeviation(lora) * 100, 2), ["FFA-LoRA wins (seeds)"] = $"{ffa.Zip(lora).Count(p => p.First >= p.Second)}/{ffa.Length}",
        });
    }
    Plots.Bars(Path.Combine(dir, LoraPlot), "Median test accuracy by ε (FFA-LoRA vs LoRA)", "accuracy",
        cells.GroupBy(c => (c.Eps, c.Method)).Select(g => ($"{g.Key.Method} ε={g.Key.Eps}", Measure.Median(g.Select(c => c.Accuracy)))).ToList());
    report.AddPlot(LoraPlot);
}

if (parts.Contains("grpc"))
{
    await RunGrpc("8 clients", dropAndNan: false);
    await RunGrpc("8 clients, 2 drop mid-round, 1 sends NaN", dropAndNan: true);
}

if (parts.Contains("poison"))
    await RunPoisoning(args.Length > 5 ? int.Parse(args[5]) : 6000);

if (parts.Contains("load"))
    await RunLoad();

var (json, md) = report.Write();
Console.WriteLine($"Wrote {json} and {md}");
return 0;

// One federation over gRPC on loopback (TLS with a development certificate): one process plays every client, each training on
// its own rows; `tamper` may replace a client's (delta, samples) or drop it (null); `declared` is what a client declares at
// registration (0 or null: its row count).
async Task<(double Accuracy, double Seconds, IReadOnlyList<FederatedRoundReport> Rounds, int Parameters)> RunFederation(IDataView data, int clients, int rounds,
    int seed, AggregationOptions aggregation, TimeSpan deadline, Func<int, int, float[], long, (float[], long)?>? tamper = null, Func<int, long>? declared = null,
    ClientSplit? split = null)
{
    using var certificate = FederatedCertificates.CreateDevelopmentCertificate();
    var keys = Enumerable.Range(0, clients).ToDictionary(i => $"client-{i}", i => Convert.ToHexString(Guid.NewGuid().ToByteArray()));
    var fed = new FederatedOptions { Clients = clients, LocalEpochs = 1, Split = split ?? ClientSplit.NonIid(0.5), Seed = seed };
    var trainer = ml.Federated().Averaging(ml.MulticlassClassification.Trainers.TorchMlp(Mlp(seed)), fed);
    using var session = trainer.StartSession(data);
    var server = await FederatedGrpcServer.StartAsync(session.InitialGlobal(), new FederatedServerOptions
    {
        ClientKeys = keys, Rounds = rounds, RoundDeadline = deadline, Certificate = certificate, Aggregation = aggregation,
    });
    await using var _ = server;
    var gate = new SemaphoreSlim(1); // the TorchSharp session is not shared across threads: clients train one at a time
    var watch = Stopwatch.StartNew();
    var run = server.RunAsync();
    var tasks = Enumerable.Range(0, clients).Select(i => FederatedGrpcClient.RunAsync(
        new FederatedClientOptions
        {
            Server = server.Address, ClientId = $"client-{i}", Key = keys[$"client-{i}"], ServerCertificateThumbprint = FederatedCertificates.Thumbprint(certificate),
            Samples = declared?.Invoke(i) is long d && d > 0 ? d : session.ClientRows(i).Length,
        },
        async (round, global, cancel) =>
        {
            await gate.WaitAsync(cancel);
            try
            {
                var (delta, samples, _, _) = session.TrainClient(i, round, global);
                return tamper is null ? (delta, samples) : tamper(i, round, delta, samples);
            }
            finally { gate.Release(); }
        })).ToArray();
    var final = await run;
    await Task.WhenAll(tasks);
    double seconds = watch.Elapsed.TotalSeconds;
    var model = session.Complete(final, new TrainingHistory(Array.Empty<double>(), Array.Empty<double>(), rounds, false, 0, watch.Elapsed));
    double accuracy = ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy;
    return (accuracy, seconds, server.Rounds, session.ParameterCount);
}

async Task RunGrpc(string name, bool dropAndNan)
{
    const int clients = 8, rounds = 5;
    var (accuracy, seconds, reports, parameters) = await RunFederation(train, clients, rounds, seed: 0, new AggregationOptions(),
        TimeSpan.FromSeconds(dropAndNan ? 20 : 120), dropAndNan
            ? (i, round, delta, samples) =>
            {
                if (round == 3 && i < 2) return null; // two clients vanish mid-run
                if (round == 3 && i == 2) Array.Fill(delta, float.NaN);
                return (delta, samples);
            }
            : null);
    var round3 = reports[2];
    Console.WriteLine($"gRPC {name}: {rounds / seconds:F3} rounds/s, accuracy {accuracy:P2}, round 3 accepted {round3.Accepted.Count}, rejected {string.Join("; ", round3.Rejected.Select(r => r.ClientId + ": " + r.Reason))}");
    report.AddRow("gRPC runtime on loopback", new Dictionary<string, object?>
    {
        ["run"] = name, ["rounds"] = rounds, ["wall s"] = Math.Round(seconds, 1), ["rounds/s"] = Math.Round(rounds / seconds, 3),
        ["payload MB per client per round"] = Math.Round(parameters * 4 / 1e6, 2), ["test accuracy"] = Math.Round(accuracy, 4),
        ["round 3 accepted"] = round3.Accepted.Count, ["round 3 rejected"] = string.Join("; ", round3.Rejected.Select(r => $"{r.ClientId}: {r.Reason}")),
    });
}

// 1 of 5 clients malicious over gRPC, 10 rounds; each attack with the default bounds and with AggregationOptions.Undefended,
// against the all-honest runs. The malicious client is client-4.
async Task RunPoisoning(int rows)
{
    const int clients = 5, rounds = 10, evil = clients - 1;
    const long hugeCount = 1_000_000_000; // the most a client may declare (FederatedServerOptions.MaxSamplesPerClient)
    var data = ml.Data.Cache(ml.Data.TakeRows(train, rows));
    var attacks = new (string Name, string Short, Func<int, int, float[], long, (float[], long)?>? Tamper, Func<int, long>? Declared)[]
    {
        ("all honest", "honest", null, null),
        ("client-4 absent (4 honest clients; the best any defence can do)", "absent", (i, _, d, n) => i == evil ? null : (d, n), null),
        ("scaled delta (×100)", "×100", (i, _, d, n) => i == evil ? (d.Select(v => v * 100f).ToArray(), n) : (d, n), null),
        ("huge sample count (10⁹) with a sign-flipped delta", "10⁹ n", (i, _, d, n) => i == evil ? (d.Select(v => -v).ToArray(), hugeCount) : (d, n), i => i == evil ? hugeCount : 0),
        ("sign flip", "flip", (i, _, d, n) => i == evil ? (d.Select(v => -v).ToArray(), n) : (d, n), null),
        ("NaN", "NaN", (i, _, d, n) => i == evil ? (Enumerable.Repeat(float.NaN, d.Length).ToArray(), n) : (d, n), null),
    };
    var shortName = attacks.ToDictionary(a => a.Name, a => a.Short);
    var cells = new List<(string Attack, string Setting, int Seed, double Accuracy)>();
    for (int seed = 0; seed < seeds; seed++)
    foreach (var (attack, _, tamper, declared) in attacks)
    foreach (var (setting, aggregation) in new[] { ("default bounds", new AggregationOptions()), ("undefended", AggregationOptions.Undefended) })
    {
        if (attack.StartsWith("client-4 absent") && setting == "undefended") continue; // nothing to defend against
        var (accuracy, seconds, reports, _) = await RunFederation(data, clients, rounds, seed, aggregation, TimeSpan.FromSeconds(8), tamper, declared, ClientSplit.Iid);
        cells.Add((attack, setting, seed, accuracy));
        int refused = reports.Sum(r => r.Rejected.Count(x => x.ClientId == $"client-{evil}" && !x.Reason.Contains("dropped")));
        Console.WriteLine($"poisoning seed {seed} {attack,-50} {setting,-15} accuracy {accuracy:P2} ({seconds:F0} s, {refused} refused)");
        report.AddRow("Poisoning, 1 of 5 clients malicious (per seed)", new Dictionary<string, object?>
        {
            ["attack"] = attack, ["aggregation"] = setting, ["seed"] = seed, ["test accuracy"] = Math.Round(accuracy, 4),
            ["attacker updates refused or left out"] = refused, ["attacker updates clipped"] = reports.Count(r => r.Clipped.Contains($"client-{evil}")),
            ["honest updates clipped"] = reports.Sum(r => r.Clipped.Count(id => id != $"client-{evil}")),
            ["rounds that changed the global"] = reports.Count(r => r.GlobalUpdated), ["wall s"] = Math.Round(seconds, 1),
        });
    }
    double honest = Measure.Median(cells.Where(c => c.Attack == "all honest" && c.Setting == "default bounds").Select(c => c.Accuracy));
    foreach (var g in cells.GroupBy(c => (c.Attack, c.Setting)))
    {
        double median = Measure.Median(g.Select(c => c.Accuracy));
        report.AddRow("Poisoning, 1 of 5 clients malicious (medians)", new Dictionary<string, object?>
        {
            ["attack"] = g.Key.Attack, ["aggregation"] = g.Key.Setting, ["median test accuracy"] = Math.Round(median, 4),
            ["Δ vs all honest with default bounds (pt)"] = Math.Round((median - honest) * 100, 2),
            ["within 1 pt"] = Math.Abs(median - honest) <= 0.01 ? "yes" : "no", ["runs"] = g.Count(),
        });
    }
    Plots.Bars(Path.Combine(dir, $"{reportName}.png"), "Median test accuracy after 10 rounds, 1 of 5 clients malicious", "accuracy",
        cells.GroupBy(c => (c.Attack, c.Setting)).Select(g => ($"{shortName[g.Key.Attack]}\n{(g.Key.Setting == "undefended" ? "undef." : "default")}", Measure.Median(g.Select(c => c.Accuracy)))).ToList(),
        width: 1000);
    report.AddPlot($"{reportName}.png");
    report.AddNote($"Poisoning: the first {rows:N0} Fashion-MNIST training images dealt IID over 5 clients (seed = run seed), 10 rounds × 1 local epoch, " +
                   "MLP 784→256→128→10, AdamW 2e-3, batch 32, FedAvg over the gRPC runtime on loopback (TLS, development certificate); test accuracy on 2,000 test images. " +
                   "client-4 is malicious: scaled = its honest delta × 100; huge sample count = declares and claims 10⁹ samples (the server's maximum) and sends its negated delta; " +
                   "sign flip = its negated delta; NaN = all-NaN delta (refused: with the default per-client accounting each such round waits for its 8 s deadline). " +
                   "Default bounds: updates pointing away from the median of the round's other updates left out (cosine ≤ 0), FedAvg weight ≤ the median sample count " +
                   "of the round, each update scaled to at most the median update norm; " +
                   "undefended = AggregationOptions.Undefended (weights and norms as the clients send them; non-finite updates are still refused). " +
                   "The split is IID on purpose: under label skew the malicious client's rows carry classes the others lack, and any defence that leaves out " +
                   "its reversed update loses them too (in a Dirichlet 0.5 probe run a sign flip cost about 10 points even undefended), so the comparison would " +
                   "measure the split rather than the defence; the 'client-4 absent' row is that ceiling here.");
}

// Load: the server in its own process (so its memory is its own), 32 clients in this one sending fixed synthetic updates of
// the 535k-parameter MLP (784→512→256→10) so the figures measure the server and the transport, not local training.
async Task RunLoad()
{
    const int clients = 32, rounds = 20, churnCycles = 1000;
    var idleTimeout = new FederatedServerOptions().IdleConnectionTimeout;
    int parameters;
    using (var sizing = ml.Federated().Averaging(
               ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { HiddenSizes = new[] { 512, 256 }, Seed = 0 }),
               new FederatedOptions { Clients = 1 }).StartSession(ml.Data.TakeRows(train, 100)))
        parameters = sizing.ParameterCount;
    var folder = Directory.CreateTempSubdirectory("federated-load-");
    try
    {
        using var certificate = FederatedCertificates.CreateDevelopmentCertificate();
        var pfx = Path.Combine(folder.FullName, "server.pfx");
        File.WriteAllBytes(pfx, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12));
        var keys = Enumerable.Range(0, clients).ToDictionary(i => $"client-{i}", _ => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        var keyFile = Path.Combine(folder.FullName, "keys.txt");
        File.WriteAllLines(keyFile, keys.Select(k => $"{k.Key} {k.Value}"));
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0)) { probe.Start(); port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port; }
        var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in new[] { "grpc-server", port.ToString(), "-", pfx, keyFile, rounds.ToString(), parameters.ToString(), "hold" }) info.ArgumentList.Add(a);
        using var host = Process.Start(info)!;
        var ready = await host.StandardOutput.ReadLineAsync();
        if (ready is null || !ready.StartsWith("READY ")) throw new InvalidOperationException($"The server process did not start: {ready}");
        long Kb(string field) => long.Parse(File.ReadLines($"/proc/{host.Id}/status").First(l => l.StartsWith(field + ":")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        var address = new Uri($"https://127.0.0.1:{port}");
        var thumbprint = FederatedCertificates.Thumbprint(certificate);
        FederatedClientOptions Options(int i) => new() { Server = address, ClientId = $"client-{i}", Key = keys[$"client-{i}"], Samples = 1, ServerCertificateThumbprint = thumbprint };

        // What the server holds once collected (live managed heap, and RSS after the allocators returned free pages),
        // as opposed to raw RSS, which also counts memory the GC and malloc keep cached for reuse.
        async Task<(long ManagedBytes, long RssKib)> Settled()
        {
            await host.StandardInput.WriteLineAsync("MEM");
            await host.StandardInput.FlushAsync();
            var reply = await host.StandardOutput.ReadLineAsync();
            var f = reply?.Split(' ');
            if (f is not { Length: 3 } || f[0] != "MEM") throw new InvalidOperationException($"The server process answered '{reply}' to MEM.");
            return (long.Parse(f[1]), long.Parse(f[2]));
        }

        // Connect/drop: a client that registers, asks for work and goes away, over and over (new TLS connection each time).
        // "closed": the client closes its connection as it goes (a process that exits, a disposed channel); "abandoned": it
        // leaves the connection open and unused (a crashed peer behind a firewall, a client that never disposes its channel),
        // which the server closes after IdleConnectionTimeout and caps at MaxConnections.
        async Task<bool> Cycle(bool close)
        {
            var channel = Grpc.Net.Client.GrpcChannel.ForAddress(address, new Grpc.Net.Client.GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256) == thumbprint },
                },
                DisposeHttpClient = close, // without it, disposing the channel leaves the handler and its connection open
            });
            try
            {
                var stub = new MLNetExt.Federated.Grpc.Protocol.FederatedLearning.FederatedLearningClient(channel);
                var headers = new Grpc.Core.Metadata { { "x-client-id", "client-0" }, { "x-client-key", keys["client-0"] } };
                await stub.RegisterAsync(new MLNetExt.Federated.Grpc.Protocol.RegisterRequest { SampleCount = 1 }, headers);
                await stub.GetTaskAsync(new MLNetExt.Federated.Grpc.Protocol.TaskRequest(), headers);
                return true;
            }
            catch (Grpc.Core.RpcException e) when (!close && e.StatusCode == Grpc.Core.StatusCode.Unavailable)
            {
                return false; // over the server's connection limit: closed as it arrived
            }
            finally
            {
                channel.Dispose();
            }
        }
        var churn = new List<(string Kind, long RssStart, long Rss20, long Rss200, long RssAll, (long ManagedBytes, long RssKib) Start, (long ManagedBytes, long RssKib) At20,
            (long ManagedBytes, long RssKib) At200, (long ManagedBytes, long RssKib) AtAll, (long ManagedBytes, long RssKib) AfterIdle, int Refused)>();
        foreach (bool close in new[] { true, false })
        {
            long rssStart = Kb("VmRSS"), rss20 = 0, rss200 = 0;
            var start = await Settled();
            (long ManagedBytes, long RssKib) at20 = default, at200 = default;
            int refused = 0;
            for (int cycle = 1; cycle <= churnCycles; cycle++)
            {
                if (!await Cycle(close)) refused++;
                if (cycle == 20) { rss20 = Kb("VmRSS"); at20 = await Settled(); }
                if (cycle == 200) { rss200 = Kb("VmRSS"); at200 = await Settled(); }
            }
            long rssAll = Kb("VmRSS");
            var atAll = await Settled();
            await Task.Delay(idleTimeout + TimeSpan.FromSeconds(5)); // the server closes what was left open
            var afterIdle = await Settled();
            churn.Add((close ? "closed" : "abandoned", rssStart, rss20, rss200, rssAll, start, at20, at200, atAll, afterIdle, refused));
            Console.WriteLine($"connect/drop ({churn[^1].Kind}): managed heap after 20 / 200 / {churnCycles} cycles {at20.ManagedBytes / 1048576.0:F1} / {at200.ManagedBytes / 1048576.0:F1} / " +
                              $"{atAll.ManagedBytes / 1048576.0:F1} MiB, after the idle timeout {afterIdle.ManagedBytes / 1048576.0:F1} MiB; refused {refused}");
        }

        var random = new Random(0);
        var deltas = Enumerable.Range(0, clients).Select(_ => Enumerable.Range(0, parameters).Select(_ => (float)(random.NextDouble() - 0.5) * 1e-3f).ToArray()).ToArray();
        var watch = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(i => FederatedGrpcClient.RunAsync(Options(i),
            (_, _, _) => Task.FromResult<(float[], long)?>((deltas[i], 1)))).ToArray();
        var roundLines = new List<(double WallMs, double AggregationMs)>();
        string? line;
        while ((line = await host.StandardOutput.ReadLineAsync()) is not null && !line.StartsWith("DONE"))
            if (line.StartsWith("ROUND ")) { var f = line.Split(' '); roundLines.Add((double.Parse(f[2]), double.Parse(f[3]))); }
        long peak = Kb("VmHWM");
        host.StandardInput.Close();
        await host.WaitForExitAsync();
        await Task.WhenAll(tasks);
        double totalMs = roundLines[^1].WallMs, aggregationMs = roundLines.Sum(r => r.AggregationMs);
        var perRound = roundLines.Select((r, k) => r.WallMs - (k == 0 ? 0 : roundLines[k - 1].WallMs)).ToArray();
        Console.WriteLine($"load: {rounds} rounds in {totalMs / 1000:F1} s ({rounds / (totalMs / 1000):F2} rounds/s), aggregation {aggregationMs / totalMs:P1}, peak {peak / 1024.0:F0} MiB");
        report.AddRow("Load: server process, 32 clients on loopback (TLS)", new Dictionary<string, object?>
        {
            ["clients"] = clients, ["rounds"] = rounds, ["parameters"] = parameters, ["MB per update"] = Math.Round(parameters * 4 / 1e6, 2),
            ["rounds/s"] = Math.Round(rounds / (totalMs / 1000), 3), ["median round s"] = Math.Round(Measure.Median(perRound) / 1000, 3),
            ["aggregation share"] = Math.Round(aggregationMs / totalMs, 3), ["transport and round bookkeeping share"] = Math.Round(1 - aggregationMs / totalMs, 3),
            ["peak server memory MiB"] = Math.Round(peak / 1024.0, 1),
        });
        static double MiB(long bytes) => Math.Round(bytes / 1048576.0, 1);
        foreach (var c in churn)
        {
            report.AddRow("Load: connect/drop cycles, server RSS", new Dictionary<string, object?>
            {
                ["connection"] = c.Kind, ["RSS at start MiB"] = Math.Round(c.RssStart / 1024.0, 1), ["after 20 cycles MiB"] = Math.Round(c.Rss20 / 1024.0, 1),
                ["after 200 cycles MiB"] = Math.Round(c.Rss200 / 1024.0, 1), ["200 vs 20"] = Math.Round((double)c.Rss200 / c.Rss20, 3),
                [$"after {churnCycles} cycles MiB"] = Math.Round(c.RssAll / 1024.0, 1), [$"{churnCycles} vs 200"] = Math.Round((double)c.RssAll / c.Rss200, 3),
            });
            report.AddRow("Load: connect/drop cycles, what the server holds after a full collection", new Dictionary<string, object?>
            {
                ["connection"] = c.Kind, ["managed heap at start MiB"] = MiB(c.Start.ManagedBytes), ["after 20 MiB"] = MiB(c.At20.ManagedBytes),
                ["after 200 MiB"] = MiB(c.At200.ManagedBytes), [$"after {churnCycles} MiB"] = MiB(c.AtAll.ManagedBytes),
                ["after the idle timeout MiB"] = MiB(c.AfterIdle.ManagedBytes),
                ["200 vs 20"] = Math.Round((double)c.At200.ManagedBytes / c.At20.ManagedBytes, 3),
                [$"{churnCycles} vs 200"] = Math.Round((double)c.AtAll.ManagedBytes / c.At200.ManagedBytes, 3),
                ["settled RSS after 20 / 200 / " + churnCycles + " MiB"] = $"{c.At20.RssKib / 1024.0:F1} / {c.At200.RssKib / 1024.0:F1} / {c.AtAll.RssKib / 1024.0:F1}",
                ["settled RSS 200 vs 20"] = Math.Round((double)c.At200.RssKib / c.At20.RssKib, 3),
                ["200 within 10 % of 20"] = c.At200.ManagedBytes <= 1.1 * c.At20.ManagedBytes && c.At200.RssKib <= 1.1 * c.At20.RssKib ? "yes" : "no",
                ["connections refused at the limit"] = c.Refused,
            });
        }
        report.AddNote($"Load: `FederatedBench grpc-server` process (TLS, development certificate, default aggregation bounds) on loopback with {clients} clients in the bench process, " +
                       $"{rounds} rounds; each client sends a fixed synthetic update (uniform ±5e-4) of the {parameters:N0}-parameter MLP 784→512→256→10 — no local training, " +
                       "so a round is transport (global out, updates in, SHA-256 both ways) plus aggregation; aggregation time is measured in the server around FederatedAggregator.Aggregate. " +
                       $"Memory from /proc/<pid>/status (VmRSS, VmHWM). Connect/drop: {churnCycles} cycles of a new channel and TLS connection, Register, GetTask, then the client goes, before the rounds: " +
                       "'closed' = it closes its connection (a process that exits, a disposed channel and handler); 'abandoned' = it leaves the connection open and unused " +
                       $"(a crashed peer whose close never arrives, a channel never disposed), which the server closes after its IdleConnectionTimeout ({idleTimeout.TotalSeconds:0} s, the default) " +
                       "and caps at MaxConnections (default 4 per known client + 16 = 144 here; connections beyond it are closed as they arrive). " +
                       "Raw RSS counts memory the GC and the C allocator keep for reuse; the second table asks the server process for its live managed heap after a full " +
                       "collection (finalizers run, so TLS handles are released) and its RSS after malloc_trim, which is what a leak would grow.");
    }
    finally
    {
        folder.Delete(recursive: true);
    }
}
