using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Catalog entries for the TorchSharp MLP trainers.</summary>
public static class MlpCatalog
{
    /// <summary>A TorchSharp multi-layer perceptron classifier (key-typed label, float vector features), every setting in <paramref name="options"/>.</summary>
    public static MlpMulticlassTrainer TorchMlp(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, MlpClassifierOptions options)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>A TorchSharp multi-layer perceptron classifier with the default settings.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="featureColumnName">Float vector features.</param>
    /// <param name="hiddenSizes">Widths of the hidden layers (default: one layer of 128).</param>
    /// <param name="epochs">Passes over the training data (default: the options' default).</param>
    public static MlpMulticlassTrainer TorchMlp(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int[]? hiddenSizes = null, int? epochs = null)
    {
        var options = new MlpClassifierOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (hiddenSizes is not null) options.HiddenSizes = hiddenSizes;
        if (epochs is int e) options.Epochs = e;
        return new(CatalogUtils.GetEnvironment(catalog), options);
    }

    /// <summary>A TorchSharp multi-layer perceptron regressor (Single label, float vector features), every setting in <paramref name="options"/>.</summary>
    public static MlpRegressionTrainer TorchMlp(this RegressionCatalog.RegressionTrainers catalog, MlpRegressorOptions options)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>A TorchSharp multi-layer perceptron regressor with the default settings.</summary>
    /// <param name="catalog">The regression trainers catalog.</param>
    /// <param name="labelColumnName">Single label column.</param>
    /// <param name="featureColumnName">Float vector features.</param>
    /// <param name="hiddenSizes">Widths of the hidden layers (default: one layer of 64).</param>
    /// <param name="epochs">Passes over the training data (default: the options' default).</param>
    public static MlpRegressionTrainer TorchMlp(this RegressionCatalog.RegressionTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int[]? hiddenSizes = null, int? epochs = null)
    {
        var options = new MlpRegressorOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (hiddenSizes is not null) options.HiddenSizes = hiddenSizes;
        if (epochs is int e) options.Epochs = e;
        return new(CatalogUtils.GetEnvironment(catalog), options);
    }
}
