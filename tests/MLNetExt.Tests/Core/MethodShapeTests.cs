using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Core;

/// <summary>
/// Every trainer and wrapper behaves as an ML.NET estimator: Fit on an IDataView, Model.Save → Model.Load in a new
/// MLContext gives the same output, a PredictionEngine with a POCO agrees with Transform, SaveAsOnnx → ApplyOnnxModel
/// agrees with TorchSharp, and the MLContext's seed decides the model when the options leave the seed unset.
/// </summary>
public sealed class MethodShapeTests
{
    public static TheoryData<string> Methods => new() { "Mlp", "Co2", "FedAvg", "Fal", "FfaLora" };

    private static IEstimator<ITransformer> Estimator(MLContext ml, string method, IDataView train)
    {
        if (method == "Terminator")
        {
            var terminator = MLNetExt.Tests.Terminator.TerminatorTests.Tiny();
            terminator.Seed = null;
            terminator.Epochs = 1;
            return ml.MulticlassClassification.Trainers.Terminator(terminator);
        }
        // No Seed in any of these options: the context's seed must decide.
        MlpClassifierOptions Inner() => new() { HiddenSizes = new[] { 16 }, Epochs = 8, BatchSize = 32, LearningRate = 0.01 };
        var mlp = ml.MulticlassClassification.Trainers.TorchMlp(Inner());
        return method switch
        {
            "Mlp" => mlp,
            "Co2" => ml.Distributed().Co2(mlp, workers: 2, localSteps: 4),
            "FedAvg" => ml.Federated().Averaging(mlp, new FederatedOptions { Clients = 3, Rounds = 2 }),
            "Fal" => ml.Federated().Adversarial(mlp, new FalOptions { Clients = 3, Rounds = 2, Attack = AttackOptions.Pgd(0.05, 2) }),
            "FfaLora" => ml.Federated().Lora(mlp, new FfaLoraOptions
            {
                BaseModel = ml.MulticlassClassification.Trainers.TorchMlp(Inner()).Fit(train),
                Clients = 3, Rounds = 2, Rank = 2, Alpha = 4,
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
    }

    /// <summary>The training view, its feature vectors and the class count: rings for the MLP family, Fashion-MNIST for Terminator.</summary>
    private static (IDataView Train, List<float[]> Features, int Classes) Data(MLContext ml, string method)
    {
        if (method == "Terminator")
        {
            var images = ml.Data.Cache(FashionMnist.LoadTrain(ml, 96));
            return (images, SyntheticData.Column(images, "Features"), 10);
        }
        var rows = SyntheticData.Rings(240, seed: 5);
        var toKey = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows));
        return (ml.Data.Cache(toKey.Transform(ml.Data.LoadFromEnumerable(rows))), rows.Select(r => r.Features).ToList(), 3);
    }

    private static float[] Scores(ITransformer model, IDataView data)
        => model.Transform(data).GetColumn<VBuffer<float>>("Score").SelectMany(v => v.DenseValues()).ToArray();

    private static ITransformer Fit(int seed, string method, out IDataView train)
    {
        var ml = new MLContext(seed: seed);
        (train, _, _) = Data(ml, method);
        return Estimator(ml, method, train).Fit(train);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void FitsSavesLoadsPredictsAndExportsLikeAnMLNetEstimator(string method) => FitSaveLoadPredictExport(method);

    [Theory]
    [MemberData(nameof(Methods))]
    public void TheContextSeedDecidesTheModel(string method) => SeedDecides(method);

    [Images.FashionMnistFact]
    public void TerminatorFitsSavesLoadsPredictsAndExportsLikeAnMLNetEstimator() => FitSaveLoadPredictExport("Terminator");

    [Images.FashionMnistFact]
    public void TheContextSeedDecidesTheTerminatorModel() => SeedDecides("Terminator");

    private static void FitSaveLoadPredictExport(string method)
    {
        var ml = new MLContext(seed: 7);
        var (train, features, classes) = Data(ml, method);
        var model = Estimator(ml, method, train).Fit(train);
        var expected = Scores(model, train);
        Assert.Equal(features.Count * classes, expected.Length);
        Assert.All(expected, s => Assert.True(float.IsFinite(s)));

        // Model.Save → Model.Load in a new context: identical output.
        using var zip = new MemoryStream();
        ml.Model.Save(model, train.Schema, zip);
        zip.Position = 0;
        var other = new MLContext(seed: 123);
        var reloaded = other.Model.Load(zip, out _);
        Assert.Equal(expected, Scores(reloaded, Data(other, method).Train));

        // PredictionEngine with a POCO: the batch Transform's scores, row by row (one row and a batch may round
        // differently in the last bit, so equality is to 1e-5).
        var definition = Microsoft.ML.Data.SchemaDefinition.Create(typeof(FeatureRow));
        definition[nameof(FeatureRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, features[0].Length);
        var engine = ml.Model.CreatePredictionEngine<FeatureRow, MlpCoreTests.ScoreOutput>(model, inputSchemaDefinition: definition);
        for (int i = 0; i < 20; i++)
        {
            var single = engine.Predict(new FeatureRow { Features = features[i] }).Score;
            Assert.Equal(classes, single.Length);
            for (int c = 0; c < classes; c++) Assert.Equal(expected[i * classes + c], single[c], 1e-5);
        }

        // SaveAsOnnx → ApplyOnnxModel: TorchSharp and ONNX Runtime agree.
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-shape-{method}-{Guid.NewGuid():N}.onnx");
        try
        {
            ((TorchModelTransformer)model).SaveAsOnnx(path);
            var applied = ml.Transforms.ApplyOnnxModel(path).Fit(train).Transform(train);
            var onnx = applied.GetColumn<float[]>("Score").SelectMany(v => v).ToArray();
            Assert.Equal(expected.Length, onnx.Length);
            Assert.True(expected.Zip(onnx).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
        }
        finally { File.Delete(path); }
    }

    private static void SeedDecides(string method)
    {
        var first = Fit(7, method, out var data);
        var again = Fit(7, method, out _);
        var otherSeed = Fit(8, method, out _);
        Assert.Equal(Scores(first, data), Scores(again, data));
        Assert.NotEqual(Scores(first, data), Scores(otherSeed, data));
    }

    /// <summary>A PredictionEngine input: features only (the label is not needed to score); its width is set per method.</summary>
    public sealed class FeatureRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }
}
