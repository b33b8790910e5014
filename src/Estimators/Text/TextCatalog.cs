using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Catalog entries for the TorchSharp text Transformer classifiers.</summary>
public static class TextCatalog
{
    /// <summary>A small Transformer encoder trained from scratch on a text column (Boolean label), every setting in <paramref name="options"/>.</summary>
    public static TextTransformerBinaryTrainer TextTransformer(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, TextClassifierOptions options)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>A small Transformer encoder trained from scratch on a text column (Boolean label), default settings.</summary>
    /// <param name="catalog">The binary trainers catalog.</param>
    /// <param name="labelColumnName">Boolean label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="epochs">Passes over the training data (default: the options' default).</param>
    public static TextTransformerBinaryTrainer TextTransformer(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int? epochs = null)
        => new(CatalogUtils.GetEnvironment(catalog), SimpleOptions(labelColumnName, textColumnName, epochs));

    /// <summary>A small Transformer encoder trained from scratch on a text column (key-typed label), every setting in <paramref name="options"/>.</summary>
    public static TextTransformerMulticlassTrainer TextTransformer(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, TextClassifierOptions options)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>A small Transformer encoder trained from scratch on a text column (key-typed label), default settings.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="textColumnName">Text column.</param>
    /// <param name="epochs">Passes over the training data (default: the options' default).</param>
    public static TextTransformerMulticlassTrainer TextTransformer(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string textColumnName = "Text", int? epochs = null)
        => new(CatalogUtils.GetEnvironment(catalog), SimpleOptions(labelColumnName, textColumnName, epochs));

    private static TextClassifierOptions SimpleOptions(string labelColumnName, string textColumnName, int? epochs)
    {
        var options = new TextClassifierOptions { LabelColumnName = labelColumnName, FeatureColumnName = textColumnName };
        if (epochs is int e) options.Epochs = e;
        return options;
    }
}
