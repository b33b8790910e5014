using Microsoft.ML;
using MLNetExt.Tests.Images;
using MLNetExt.Tests.Text;

namespace MLNetExt.Tests.Core;

/// <summary>
/// Named presets: each returns a new object with the documented settings (where they differ from the defaults), and
/// each trains. CI shortens some trainings (epochs, sequence length) but keeps the preset's model and method settings.
/// </summary>
public sealed class PresetTests
{
    private static double Accuracy(MLContext ml, ITransformer model, IDataView data)
        => ml.MulticlassClassification.Evaluate(model.Transform(data)).MicroAccuracy;

    /// <summary>600 training and 300 test rings, with one label mapping for both.</summary>
    private static (IDataView Train, IDataView Test) Rings(MLContext ml)
    {
        var train = ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1));
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(train);
        return (toKey.Transform(train), toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 2))));
    }

    private static void AssertLossFell(TrainingHistory history)
        => Assert.True(history.TrainLoss[^1] < history.TrainLoss[0], $"train loss {string.Join(", ", history.TrainLoss.Select(l => l.ToString("F4")))}");

    [Fact]
    public void EveryPresetIsANewObject()
    {
        var a = TerminatorOptions.Fast;
        a.Epochs = 99;
        a.BlockChannels[0] = 1;
        Assert.Equal(10, TerminatorOptions.Fast.Epochs);
        Assert.Equal(16, TerminatorOptions.Fast.BlockChannels[0]);
        Assert.NotSame(MlpClassifierOptions.Wide, MlpClassifierOptions.Wide);
        Assert.NotSame(TextClassifierOptions.Recommended, TextClassifierOptions.Recommended);
        Assert.NotSame(Co2TrainerOptions.Benchmark, Co2TrainerOptions.Benchmark);
        Assert.NotSame(FederatedOptions.NonIid, FederatedOptions.NonIid);
        Assert.NotSame(FfaLoraOptions.Private.Privacy, FfaLoraOptions.Private.Privacy);
    }

    [Fact]
    public void PresetsDifferFromTheDefaultsAsDocumented()
    {
        var t = new TerminatorOptions();
        Assert.Equal(t.BlockChannels, TerminatorOptions.Recommended.BlockChannels);
        Assert.Equal(t.PatchSize, TerminatorOptions.Recommended.PatchSize);
        var fast = TerminatorOptions.Fast;
        Assert.Equal((2, 5e-3, 10), (fast.PatchSize, fast.LearningRate, fast.Epochs));
        Assert.Equal(new[] { 16, 32, 48 }, fast.BlockChannels);
        Assert.NotEqual(t.PatchSize, fast.PatchSize);
        var sequence = TerminatorOptions.Sequence;
        Assert.Equal((TerminatorInputKind.Sequence, 28), (sequence.Input, sequence.PatchSize));
        Assert.Equal(new[] { 48, 96, 144 }, sequence.BlockChannels);
        Assert.Equal(TerminatorInputKind.Image, t.Input);

        var wide = MlpClassifierOptions.Wide;
        Assert.Equal(new[] { 128 }, MlpClassifierOptions.Recommended.HiddenSizes);
        Assert.Equal(new[] { 256, 128 }, wide.HiddenSizes);
        Assert.Equal((0.1, 5, 128, 2e-3, LearningRateScheduleKind.WarmupCosine, 0.5),
            (wide.Dropout, wide.Epochs, wide.BatchSize, wide.LearningRate, wide.Schedule, wide.WarmupEpochs));
        Assert.Equal(new[] { 64 }, MlpRegressorOptions.Recommended.HiddenSizes);
        Assert.Equal(new TextClassifierOptions().Layers, TextClassifierOptions.Recommended.Layers);

        Assert.Equal(8, Co2TrainerOptions.Recommended.Algorithm.LocalSteps);
        var co2 = Co2TrainerOptions.Benchmark.Algorithm;
        Assert.Equal((DistributedAlgorithm.Co2, 16, 0f), (co2.Algorithm, co2.LocalSteps, co2.OuterMomentum));
        Assert.NotEqual(co2.OuterMomentum, new Co2TrainerOptions().Algorithm.OuterMomentum);

        Assert.Equal(ClientSplit.Iid, FederatedOptions.Recommended.Split);
        Assert.NotEqual(ClientSplit.Iid, FederatedOptions.NonIid.Split);
        Assert.Equal(0.5, FalOptions.NonIid.CleanLossWeight);
        Assert.Equal(0, new FalOptions().CleanLossWeight);
        Assert.Null(FfaLoraOptions.Recommended.Privacy);
        var lora = FfaLoraOptions.Private;
        Assert.Equal((5, 6.0, 1.0, 1e-5), (lora.Clients, lora.Privacy!.TargetEpsilon!.Value, lora.Privacy.ClipNorm, lora.Privacy.Delta));
    }

    [Theory]
    [InlineData("Recommended")]
    [InlineData("Wide")]
    public void MlpPresetsTrain(string preset)
    {
        var ml = new MLContext(seed: 1);
        var options = preset == "Wide" ? MlpClassifierOptions.Wide : MlpClassifierOptions.Recommended;
        options.BatchSize = 32;   // 600 rows: enough steps per epoch to learn in the preset's epochs
        options.LearningRate = 0.01;
        var (train, test) = Rings(ml);
        var model = ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(train);
        AssertLossFell(model.Training!.History);
        Assert.True(Accuracy(ml, model, test) > 0.8, $"accuracy {Accuracy(ml, model, test)}");
    }

    [Fact]
    public void MlpRegressorPresetTrains()
    {
        var ml = new MLContext(seed: 1);
        var options = MlpRegressorOptions.Recommended;
        options.LearningRate = 0.01;
        var model = ml.Regression.Trainers.TorchMlp(options).Fit(ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(400, 1)));
        AssertLossFell(model.Training!.History);
    }

    [Fact]
    public void TextPresetTrains()
    {
        var ml = new MLContext(seed: 1);
        var options = TextClassifierOptions.Recommended;
        options.Epochs = 3;
        options.MaxLength = 32;
        var model = ml.BinaryClassification.Trainers.TextTransformer(options).Fit(ml.Data.LoadFromEnumerable(TextTransformerTests.GiveQuestions(192, 1)));
        AssertLossFell(model.Training!.History);
    }

    [FashionMnistFact]
    public void TerminatorPresetsTrain()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.Cache(FashionMnist.LoadTrain(ml, 96));
        foreach (var (name, options) in new[] { ("Recommended", TerminatorOptions.Recommended), ("Fast", TerminatorOptions.Fast), ("Sequence", TerminatorOptions.Sequence) })
        {
            options.Epochs = 3;
            options.BatchSize = 16;
            var model = ml.MulticlassClassification.Trainers.Terminator(options).Fit(train);
            Assert.True(model.Training!.History.TrainLoss[^1] < model.Training.History.TrainLoss[0], $"{name}: {string.Join(", ", model.Training.History.TrainLoss)}");
        }
    }

    private static MlpClassifierOptions Inner() => new() { HiddenSizes = new[] { 16 }, Epochs = 8, BatchSize = 32, LearningRate = 0.01, Seed = 1 };

    [Theory]
    [InlineData("Recommended")]
    [InlineData("Benchmark")]
    public void Co2PresetsTrain(string preset)
    {
        var ml = new MLContext(seed: 1);
        var options = preset == "Benchmark" ? Co2TrainerOptions.Benchmark : Co2TrainerOptions.Recommended;
        var (train, test) = Rings(ml);
        var model = ml.Distributed().Co2(ml.MulticlassClassification.Trainers.TorchMlp(Inner()), options).Fit(train);
        Assert.True(Accuracy(ml, model, test) > 0.6, $"accuracy {Accuracy(ml, model, test)}");
    }

    [Theory]
    [InlineData("FedAvg Recommended")]
    [InlineData("FedAvg NonIid")]
    [InlineData("Fal NonIid")]
    public void FederatedPresetsTrain(string preset)
    {
        var ml = new MLContext(seed: 1);
        var mlp = ml.MulticlassClassification.Trainers.TorchMlp(Inner());
        IEstimator<ITransformer> trainer = preset switch
        {
            "FedAvg Recommended" => ml.Federated().Averaging(mlp, FederatedOptions.Recommended),
            "FedAvg NonIid" => ml.Federated().Averaging(mlp, FederatedOptions.NonIid),
            _ => ml.Federated().Adversarial(mlp, FalOptions.NonIid),
        };
        var (train, test) = Rings(ml);
        var model = trainer.Fit(train);
        // Three classes (chance 1/3); a label-skewed split learns more slowly than an IID one.
        Assert.True(Accuracy(ml, model, test) > 0.45, $"accuracy {Accuracy(ml, model, test)}");
    }

    [Fact]
    public void PrivateFfaLoraPresetStaysWithinItsEpsilon()
    {
        var ml = new MLContext(seed: 1);
        var (train, test) = Rings(ml);
        var options = FfaLoraOptions.Private;
        options.BaseModel = ml.MulticlassClassification.Trainers.TorchMlp(Inner()).Fit(train);
        options.Rounds = 3;
        var lora = ml.Federated().Lora(ml.MulticlassClassification.Trainers.TorchMlp(Inner()), options);
        var model = lora.Fit(train);
        Assert.InRange(lora.EpsilonSpent, 0.1, 6.0);
        Assert.True(Accuracy(ml, model, test) > 0.6, $"accuracy {Accuracy(ml, model, test)}");
    }
}
