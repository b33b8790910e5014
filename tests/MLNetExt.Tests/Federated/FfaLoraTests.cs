using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Tests.Images;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Federated;

public sealed class FfaLoraTests
{
    private static nn.Module<Tensor, Tensor> Net()
    {
        torch.manual_seed(5);
        return nn.Sequential(("fc1", nn.Linear(6, 8)), ("act", nn.Tanh()), ("fc2", nn.Linear(8, 3)));
    }

    [Fact]
    public void ZeroBLeavesTheBaseOutput_AIsTheSameForTheSameSeed_MergeKeepsTheAdaptedOutput()
    {
        var net = Net();
        var x = torch.rand(5, 6);
        var before = net.call(x).data<float>().ToArray();
        using var adapters = new LoraAdapters(net, rank: 2, alpha: 4, aSeed: 9, freezeA: true);
        Assert.Equal(before, net.call(x).data<float>().ToArray());
        using var other = new LoraAdapters(Net(), rank: 2, alpha: 4, aSeed: 9, freezeA: true);
        Assert.Equal(adapters.Layers[0].A.data<float>().ToArray(), other.Layers[0].A.data<float>().ToArray());
        Assert.All(adapters.Layers, l => Assert.False(l.A.requires_grad));
        Assert.All(net.parameters(), p => Assert.False(p.requires_grad)); // the base is frozen; adapters live outside the module

        using (no_grad()) foreach (var l in adapters.Layers) l.B.copy_(torch.randn(l.B.shape));
        var adapted = net.call(x).data<float>().ToArray();
        Assert.NotEqual(before, adapted);
        adapters.MergeAndDetach();
        var merged = net.call(x).data<float>().ToArray();
        Assert.True(adapted.Zip(merged, (a, b) => Math.Abs(a - b)).Max() < 1e-5);
    }

    [Fact]
    public void OnSquareLayersFfaLoraSendsExactlyHalfOfLoraAndTargetModulesAreHonoured()
    {
        torch.manual_seed(2);
        nn.Module<Tensor, Tensor> Model() => nn.Sequential(("inp", nn.Linear(20, 16)), ("a", nn.ReLU()), ("q", nn.Linear(16, 16)), ("b", nn.ReLU()),
            ("v", nn.Linear(16, 16)), ("out", nn.Linear(16, 4)));
        var targets = new[] { "q", "v" }; // the LoRA paper's query/value recipe: square projections
        using var ffa = new LoraAdapters(Model(), rank: 4, alpha: 8, aSeed: 1, freezeA: true, targetModules: targets);
        using var lora = new LoraAdapters(Model(), rank: 4, alpha: 8, aSeed: 1, freezeA: false, targetModules: targets);
        Assert.Equal(new[] { "q", "v" }, ffa.Layers.Select(l => l.Name));
        long Floats(LoraAdapters a) => a.TrainableParameters.Sum(p => p.numel());
        Assert.Equal(2 * 16 * 4, Floats(ffa));
        Assert.Equal(2 * Floats(ffa), Floats(lora));
        var e = Assert.Throws<ArgumentException>(() => new LoraAdapters(Model(), 4, 8, 1, true, targetModules: new[] { "query" }));
        Assert.Contains("inp, q, v, out", e.Message);
    }

    [Fact]
    public void AveragingBIsExactWithASharedA_ButNotWhenEachClientHasItsOwnA()
    {
        torch.manual_seed(1);
        var a = torch.randn(2, 6);
        var bs = Enumerable.Range(0, 3).Select(_ => torch.randn(4, 2)).ToArray();
        var meanOfProducts = torch.stack(bs.Select(b => b.matmul(a)).ToArray()).mean(new long[] { 0 });
        var productOfMean = torch.stack(bs).mean(new long[] { 0 }).matmul(a);
        Assert.True((meanOfProducts - productOfMean).abs().max().item<float>() < 1e-5);

        var aPerClient = Enumerable.Range(0, 3).Select(_ => torch.randn(2, 6)).ToArray();
        var vanilla = torch.stack(bs.Zip(aPerClient, (b, ai) => b.matmul(ai)).ToArray()).mean(new long[] { 0 });
        var naive = torch.stack(bs).mean(new long[] { 0 }).matmul(torch.stack(aPerClient).mean(new long[] { 0 }));
        Assert.True((vanilla - naive).abs().max().item<float>() > 1e-2);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PerSampleGradientsEqualOneExampleAtATimeAutograd(bool freezeA)
    {
        var net = Net();
        using var adapters = new LoraAdapters(net, rank: 3, alpha: 6, aSeed: 2, freezeA: freezeA);
        using (no_grad()) foreach (var l in adapters.Layers) l.B.copy_(torch.randn(l.B.shape) * 0.3);
        var x = torch.rand(4, 6);
        var y = torch.tensor(new long[] { 0, 2, 1, 2 });
        adapters.CaptureActivations = true;
        var loss = nn.functional.cross_entropy(net.call(x), y);
        adapters.CaptureActivations = false;
        var perSample = FfaLoraTrainer<MlpMulticlassTransformer>.PerSampleGradients(adapters, loss, 4);
        var parameters = adapters.TrainableParameters;
        Assert.Equal(parameters.Count, perSample.Length);
        for (int i = 0; i < 4; i++)
        {
            var li = nn.functional.cross_entropy(net.call(x.narrow(0, i, 1)), y.narrow(0, i, 1));
            var reference = torch.autograd.grad(new[] { li }, parameters.Cast<Tensor>().ToList());
            for (int k = 0; k < parameters.Count; k++)
            {
                float diff = (perSample[k][i] - reference[k]).abs().max().item<float>();
                float scale = reference[k].abs().max().item<float>() + 1e-6f;
                Assert.True(diff <= 1e-5f * Math.Max(1, scale) + 1e-6f, $"example {i}, tensor {k}: |Δ| {diff} (scale {scale})");
            }
        }
    }

    [FashionMnistFact]
    public void FfaLoraFineTunesABaseModelToNewClassesFederatedly_AndExportsTheMergedModel()
    {
        var ml = new MLContext(seed: 0);
        var all = ml.Data.Cache(FashionMnist.LoadTrain(ml, 3000));
        var firstHalf = ml.Data.FilterRowsByKeyColumnFraction(all, "Label", 0, 0.5);   // classes 0–4
        var secondHalf = ml.Data.FilterRowsByKeyColumnFraction(all, "Label", 0.5, 1);  // classes 5–9
        var mlp = new MlpClassifierOptions { HiddenSizes = new[] { 64 }, Epochs = 4, BatchSize = 32, LearningRate = 3e-3, Seed = 1 };
        var baseModel = ml.MulticlassClassification.Trainers.TorchMlp(mlp).Fit(firstHalf);
        double Accuracy(ITransformer m) => ml.MulticlassClassification.Evaluate(m.Transform(secondHalf)).MicroAccuracy;
        double baseAccuracy = Accuracy(baseModel);

        FfaLoraOptions Options(bool freezeA, DifferentialPrivacyOptions? dp) => new()
        {
            BaseModel = baseModel, Clients = 3, Rounds = 3, LocalEpochs = 1, Rank = 4, Alpha = 8, FreezeA = freezeA, LearningRate = 0.05,
            Split = ClientSplit.NonIid(1.0), Privacy = dp,
        };
        var ffa = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(mlp), Options(true, null));
        var tuned = ffa.Fit(secondHalf);
        Assert.True(Accuracy(tuned) > baseAccuracy + 0.3, $"fine-tuned {Accuracy(tuned):P1} vs base {baseAccuracy:P1} on the new classes");

        var lora = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(mlp), Options(false, null));
        lora.Fit(secondHalf);
        Assert.Equal(4 * (64 + 10), ffa.ParametersSentPerRound);                // B only: out × r per layer
        Assert.Equal(4 * (64 + 10) + 4 * (784 + 64), lora.ParametersSentPerRound); // A and B

        // The merged model is an ordinary MLP transformer: it saves and loads like one.
        using (var zip = new MemoryStream())
        {
            ml.Model.Save(tuned, secondHalf.Schema, zip);
            zip.Position = 0;
            var reloaded = ml.Model.Load(zip, out _);
            float[] Scores(ITransformer m) => m.Transform(secondHalf).GetColumn<VBuffer<float>>("Score").Take(50).SelectMany(v => v.DenseValues()).ToArray();
            Assert.Equal(Scores(tuned), Scores(reloaded));
        }

        var onnx = Path.Combine(Path.GetTempPath(), $"ffa-{Guid.NewGuid():N}.onnx");
        try
        {
            ((MlpMulticlassTransformer)tuned).SaveAsOnnx(onnx);
            var features = secondHalf.GetColumn<VBuffer<float>>("Features").Take(8).SelectMany(v => v.DenseValues()).ToArray();
            using var session = OnnxSessionFactory.Create(onnx, OnnxExecutionDevice.Cpu);
            var ort = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (features, new[] { 8, 784 }) }, "Score");
            Assert.True(OnnxParity.MaxAbsDifference(ort["Score"].Data, ((MlpMulticlassTransformer)tuned).Score(features, 8)[0]) < 1e-5);
        }
        finally
        {
            File.Delete(onnx);
        }
    }

    [FashionMnistFact]
    public void PrivateFfaLoraLearnsWithinItsEpsilonBudget()
    {
        var ml = new MLContext(seed: 0);
        var all = ml.Data.Cache(FashionMnist.LoadTrain(ml, 3000));
        var firstHalf = ml.Data.FilterRowsByKeyColumnFraction(all, "Label", 0, 0.5);
        var secondHalf = ml.Data.FilterRowsByKeyColumnFraction(all, "Label", 0.5, 1);
        var mlp = new MlpClassifierOptions { HiddenSizes = new[] { 64 }, Epochs = 4, BatchSize = 32, LearningRate = 3e-3, Seed = 1 };
        var baseModel = ml.MulticlassClassification.Trainers.TorchMlp(mlp).Fit(firstHalf);
        double Accuracy(ITransformer m) => ml.MulticlassClassification.Evaluate(m.Transform(secondHalf)).MicroAccuracy;
        double baseAccuracy = Accuracy(baseModel);
        FfaLoraOptions Options(bool freezeA, DifferentialPrivacyOptions? dp) => new()
        {
            BaseModel = baseModel, Clients = 3, Rounds = 3, LocalEpochs = 1, Rank = 4, Alpha = 8, FreezeA = freezeA, LearningRate = 0.5,
            Split = ClientSplit.NonIid(1.0), Privacy = dp,
        };
        var dp = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(mlp),
            Options(true, new DifferentialPrivacyOptions { TargetEpsilon = 6, ClipNorm = 1 }));
        var privateModel = dp.Fit(secondHalf);
        Assert.True(dp.NoiseMultiplier > 0.3, $"σ = {dp.NoiseMultiplier}");
        Assert.True(dp.EpsilonSpent <= 6 + 1e-9, $"ε spent {dp.EpsilonSpent}");
        Assert.True(Accuracy(privateModel) > baseAccuracy + 0.2, $"private fine-tuning {Accuracy(privateModel):P1} vs base {baseAccuracy:P1}");
    }
}
