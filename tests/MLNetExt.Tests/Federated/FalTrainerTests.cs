using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Tests.Images;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Federated;

public sealed class FalTrainerTests
{
    private static MlpClassifierOptions Mlp() => new() { HiddenSizes = new[] { 64 }, BatchSize = 32, LearningRate = 2e-3, Seed = 2 };

    [Fact]
    public void PgdStaysInsideTheBallAndTheInputRange_FgsmIsOneFullStep()
    {
        torch.manual_seed(3);
        var net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3));
        var x = torch.rand(16, 6);
        var y = torch.randint(0, 3, 16);
        Tensor Loss(Tensor input) => nn.functional.cross_entropy(net.call(input), y, reduction: nn.Reduction.Sum);
        foreach (var norm in new[] { AttackNorm.LInf, AttackNorm.L2 })
        {
            var adv = AdversarialAttack.Perturb(Loss, x, AttackOptions.Pgd(0.1, steps: 7, norm: norm), new Generator(1));
            var delta = adv - x;
            double size = norm == AttackNorm.LInf ? delta.abs().max().item<float>() : delta.norm(1).max().item<float>();
            Assert.True(size <= 0.1 + 1e-6, $"{norm}: ‖δ‖ = {size}");
            Assert.True(adv.min().item<float>() >= 0 && adv.max().item<float>() <= 1);
            Assert.True(Loss(adv).item<float>() > Loss(x).item<float>(), "the attack must raise the loss");
        }
        var fgsm = AdversarialAttack.Perturb(Loss, x, AttackOptions.Fgsm(0.05));
        var pgd1 = AdversarialAttack.Perturb(Loss, x, new AttackOptions { Epsilon = 0.05, Steps = 1, StepSize = 0.05, RandomStart = false });
        Assert.Equal(fgsm.data<float>().ToArray(), pgd1.data<float>().ToArray());
        Assert.Equal(x.data<float>().ToArray(), AdversarialAttack.Perturb(Loss, x, AttackOptions.Pgd(0)).data<float>().ToArray());
    }

    [FashionMnistFact]
    public void EpsilonZeroIsExactlyFedAvg()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 300));
        float[] Scores(ITransformer model) => model.Transform(train).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).Take(50).SelectMany(s => s).ToArray();
        var fal = new FalOptions { Clients = 3, Rounds = 2, LocalEpochs = 1, Attack = AttackOptions.Pgd(0), Aggregation = new AggregationOptions { Rule = AggregationRule.FedAvg } };
        var a = Scores(ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), fal).Fit(train));
        var plain = new FederatedOptions { Clients = 3, Rounds = 2, LocalEpochs = 1 };
        var b = Scores(ml.Federated().Averaging(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), plain).Fit(train));
        Assert.Equal(a, b);
        var attacked = new FalOptions { Clients = 3, Rounds = 2, LocalEpochs = 1, Attack = AttackOptions.Pgd(0.1, 3), Aggregation = new AggregationOptions { Rule = AggregationRule.FedAvg } };
        Assert.NotEqual(a, Scores(ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), attacked).Fit(train)));
    }

    [FashionMnistFact]
    public void FalIsMoreRobustThanFedAvg_AndARoundSurvivesDropoutsAndANanUpdate()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 1000));
        var test = ml.Data.Cache(FashionMnist.LoadTest(ml, 300));
        var reports = new List<FederatedRoundReport>();
        FalOptions Options(double eps) => new()
        {
            Clients = 5, Rounds = 4, LocalEpochs = 1, Split = ClientSplit.NonIid(1.0), Attack = AttackOptions.Pgd(eps, steps: 5),
            // Round 2: client 1 goes away and client 3 sends NaNs.
            UpdateInterceptor = (round, id, delta) => round != 2 ? delta : id == "client-1" ? null : id == "client-3" ? delta.Select(_ => float.NaN).ToArray() : delta,
        };
        var falOptions = Options(0.1);
        falOptions.Progress = new SyncProgress(reports.Add);
        var fal = ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), falOptions).Fit(train);
        var fedAvg = ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), Options(0)).Fit(train);

        var attack = AttackOptions.Pgd(0.1, steps: 10);
        var falRobust = ml.MulticlassClassification.EvaluateRobustness(fal, test, attack);
        var avgRobust = ml.MulticlassClassification.EvaluateRobustness(fedAvg, test, attack);
        Assert.True(falRobust.NaturalAccuracy > 0.3, $"FAL natural accuracy {falRobust.NaturalAccuracy:P1} (chance 10 %)");
        Assert.True(falRobust.RobustAccuracy <= falRobust.NaturalAccuracy);
        Assert.True(falRobust.RobustAccuracy > avgRobust.RobustAccuracy + 0.1,
            $"robust accuracy FAL {falRobust.RobustAccuracy:P1} vs FedAvg {avgRobust.RobustAccuracy:P1}");

        Assert.Equal(4, reports.Count);
        var round2 = reports[1];
        Assert.Equal(3, round2.Accepted.Count);
        Assert.Contains(round2.Rejected, r => r.ClientId == "client-1" && r.Reason.Contains("dropped"));
        Assert.Contains(round2.Rejected, r => r.ClientId == "client-3" && r.Reason.Contains("not finite"));
        Assert.True(reports[^1].MeanClientLoss < reports[0].MeanClientLoss, "client loss should fall over rounds");
    }

    [FashionMnistFact]
    public void ServerCheckpointResumesAfterARestartWithoutLosingRounds()
    {
        var ml = new MLContext(seed: 0);
        var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 200));
        var path = Path.Combine(Path.GetTempPath(), $"fal-{Guid.NewGuid():N}.ckpt");
        try
        {
            float[] Scores(ITransformer model) => model.Transform(train).GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).Take(20).SelectMany(s => s).ToArray();
            FalOptions Options(int rounds, string? checkpoint) => new() { Clients = 2, Rounds = rounds, Attack = AttackOptions.Fgsm(0.05), CheckpointPath = checkpoint };
            var straight = Scores(ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), Options(3, null)).Fit(train));
            ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), Options(2, path)).Fit(train); // "crash" after round 2
            var resumed = ml.Federated().Adversarial(ml.MulticlassClassification.Trainers.TorchMlp(Mlp()), Options(3, path));
            var scores = Scores(resumed.Fit(train));
            Assert.Single(resumed.Rounds); // only round 3 ran
            Assert.Equal(3, resumed.Rounds[0].Round);
            Assert.Equal(straight, scores);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class SyncProgress(Action<FederatedRoundReport> report) : IProgress<FederatedRoundReport>
    {
        public void Report(FederatedRoundReport value) => report(value);
    }
}
