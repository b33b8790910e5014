using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Mlp;

namespace MLNetExt;

/// <summary>Catalog entries for the TorchSharp MLP trainers.</summary>
public static class MlpCatalog
{
    /// <summary>A TorchSharp multi-layer perceptron classifier (key-typed label, float vector features).</summary>
    public static MlpMulticlassTrainer TorchMlp(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MlpClassifierOptions? options = null)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? new MlpClassifierOptions());

    /// <summary>A TorchSharp multi-layer perceptron regressor (Single label, float vector features).</summary>
    public static MlpRegressionTrainer TorchMlp(this RegressionCatalog.RegressionTrainers catalog, MlpRegressorOptions? options = null)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? new MlpRegressorOptions());
}
