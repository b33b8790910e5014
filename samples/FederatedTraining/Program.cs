// Federated training over gRPC on loopback: a server and three sites (clients), TLS with a development certificate
// that the sites pin by thumbprint, one random key per site. First FAL (federated adversarial learning: each site
// trains on PGD-perturbed images) from scratch, then FFA-LoRA (low-rank adapters with A frozen and shared, only B
// trained and sent, under differential privacy) fine-tuning the FAL model. The global model's test accuracy is shown
// after every round. Then the usual steps: save the zip, export ONNX, and consume both (ConsumeModel.cs).
// Data: Fashion-MNIST from Debian's dataset-fashion-mnist package (scripts/setup.sh installs it), split across the sites.
// Usage: dotnet run -c Release --project samples/FederatedTraining -- [rowsPerSite=4000] [rounds=5] [--smoke]
using Microsoft.ML;
using FederatedTraining;
using MLNetExt;
using MLNetExt.Samples;
using Spectre.Console;

const int sites = 3;
var run = SampleRun.Parse(args, "mlnetext-federated");
var ml = new MLContext(seed: 0);
int rowsPerSite = run.Int(0, 4000, 600), rounds = run.Int(1, 5, 3);
if (!FashionMnistSteps.DataIsInstalled()) return 1;
var all = ml.Data.Cache(FashionMnist.LoadTrain(ml, rowsPerSite * sites));
var siteData = Enumerable.Range(0, sites).Select(i => ml.Data.Cache(ml.Data.TakeRows(i == 0 ? all : ml.Data.SkipRows(all, i * rowsPerSite), rowsPerSite))).ToList();
var serverData = ml.Data.TakeRows(all, 256);   // the server's session only needs the schema and a few rows
var test = ml.Data.Cache(FashionMnist.LoadTest(ml, run.Smoke ? 500 : 2000));
var mlp = new MlpClassifierOptions { HiddenSizes = new[] { 128 }, BatchSize = 64, LearningRate = 2e-3, Seed = 0 };

using var certificate = FederatedCertificates.CreateDevelopmentCertificate();   // for 127.0.0.1 and localhost
var federation = new Federation(ml, test, certificate);
AnsiConsole.MarkupLine($"[bold]Federated training over gRPC + TLS[/] on loopback: {sites} sites × {rowsPerSite:N0} Fashion-MNIST images, {rounds} rounds per method; " +
    $"server certificate {federation.Thumbprint[..16]}… pinned by every site.");

// 1. FAL from scratch: local training on PGD adversarial examples (half clean loss), server-side mean of the deltas.
var attack = AttackOptions.Pgd(0.1, steps: run.Smoke ? 3 : 10);
var (fal, falAccuracy) = await federation.RunAsync("FAL", data => ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(mlp),
    new FalOptions { Clients = 1, Rounds = rounds, Attack = attack, CleanLossWeight = 0.5, Seed = 0 }).StartSession(data), serverData, siteData, rounds);
var robust = ml.MulticlassClassification.EvaluateRobustness(fal, test, AttackOptions.Pgd(0.1, steps: run.Smoke ? 5 : 20));
AnsiConsole.MarkupLine($"FAL model: natural accuracy [bold]{robust.NaturalAccuracy:P1}[/], PGD robust accuracy (ε 0.1) [bold]{robust.RobustAccuracy:P1}[/]");
run.Check(falAccuracy[^1] > falAccuracy[0] + 0.3, $"FAL global accuracy went from {falAccuracy[0]:P1} to {falAccuracy[^1]:P1}, not up by 30 points");

// 2. FFA-LoRA fine-tuning of the FAL model under differential privacy (ε ≤ 6 per site): only the B matrices travel.
var loraTrainers = new List<FfaLoraTrainer<MlpMulticlassTransformer>>();
var (tuned, loraAccuracy) = await federation.RunAsync("FFA-LoRA", data =>
{
    var trainer = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(mlp), new FfaLoraOptions
    {
        BaseModel = fal, Clients = 1, Rounds = rounds, Rank = 8, Seed = 0,
        Privacy = new DifferentialPrivacyOptions { TargetEpsilon = 6, ClipNorm = 1, Delta = 1e-5 },
    });
    loraTrainers.Add(trainer);
    return trainer.StartSession(data);
}, serverData, siteData, rounds);
var siteTrainers = loraTrainers.Where(t => t.NoiseMultiplier > 0).ToList();   // the sites' (the server's and the evaluation sessions never train)
double epsilon = siteTrainers.Max(t => t.EpsilonSpent);
AnsiConsole.MarkupLine($"FFA-LoRA model: test accuracy [bold]{loraAccuracy[^1]:P1}[/] (start {loraAccuracy[0]:P1}), largest ε spent by a site {epsilon:F2}, " +
    $"{siteTrainers.Max(t => t.ParametersSentPerRound):N0} parameters sent per site and round (the MLP has {fal.Network.parameters().Sum(p => p.numel()):N0})");
run.Check(epsilon <= 6 + 1e-6, $"a site spent ε {epsilon:F2} > 6");
run.Check(loraAccuracy[^1] > loraAccuracy[0] - 0.1, $"FFA-LoRA fine-tuning lost more than 10 points ({loraAccuracy[0]:P1} → {loraAccuracy[^1]:P1})");

// 3. Save the fine-tuned model (adapters merged into the base weights) as an ML.NET zip and as ONNX, then consume both as
//    an app would (samples/Common/FashionMnistModel): one test image through the reloaded zip and through ONNX Runtime.
FashionMnistSteps.SaveAndConsume(run, ml, tuned, serverData.Schema, test, "federated-mlp");
return run.Finish();
