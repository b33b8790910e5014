using Microsoft.ML;

namespace MLNetExt.Tests.Core;

/// <summary>
/// The simple-arguments overloads and the <c>Distributed()</c> / <c>Federated()</c> entries: column names and epochs
/// reach the trainer, and the wrappers train through the context they were reached from.
/// </summary>
public sealed class EntryPointTests
{
    private static (MLContext Ml, IDataView Train, IDataView Test) RingsWithOwnColumnNames()
    {
        var ml = new MLContext(seed: 1);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Ring", "Label")
            .Append(ml.Transforms.CopyColumns("Point", "Features"))
            .Fit(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1)));
        return (ml, toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(600, 1))), toKey.Transform(ml.Data.LoadFromEnumerable(SyntheticData.Rings(300, 2))));
    }

    [Fact]
    public void SimpleOverloadUsesTheGivenColumnsAndEpochs()
    {
        var (ml, train, test) = RingsWithOwnColumnNames();
        var trainer = ml.MulticlassClassification.Trainers.TorchMlp(labelColumnName: "Ring", featureColumnName: "Point", hiddenSizes: new[] { 32, 32 }, epochs: 60);
        var model = trainer.Fit(train);

        Assert.Equal("Point", model.FeatureColumnName);
        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(test), labelColumnName: "Ring").MicroAccuracy;
        Assert.True(accuracy > 0.85, $"rings accuracy {accuracy:P1} (a linear model stays near 33–50 %)");
        // Without arguments the overload reads the default "Label", which here is the original string column.
        var defaults = ml.MulticlassClassification.Trainers.TorchMlp();
        var error = Assert.ThrowsAny<Exception>(() => defaults.Fit(train));
        Assert.Contains("'Label' must be a key type", error.Message);
    }

    [Fact]
    public void DistributedEntryTrainsTheInnerTrainerWithCo2()
    {
        var ml = new MLContext(seed: 3);
        var train = ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(800, 1));
        var test = ml.Data.LoadFromEnumerable(SyntheticData.SmoothFunction(200, 2));
        var inner = ml.Regression.Trainers.TorchMlp(new MlpRegressorOptions { HiddenSizes = new[] { 32, 32 }, Epochs = 30, LearningRate = 0.01, Seed = 1 });
        var trainer = ml.Distributed().Co2(inner, workers: 2, localSteps: 4);

        var model = trainer.Fit(train);

        Assert.Equal(2, trainer.LastRun!.Ranks.Count);
        var r2 = ml.Regression.Evaluate(model.Transform(test)).RSquared;
        var linear = ml.Regression.Evaluate(ml.Regression.Trainers.Sdca().Fit(train).Transform(test)).RSquared;
        Assert.True(r2 > linear + 0.1, $"CO2-trained MLP R² {r2:F3} vs linear {linear:F3}");
    }
}
