using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Text;

namespace MLNetExt;

/// <summary>Catalog entries for the TorchSharp text Transformer classifiers.</summary>
public static class TextCatalog
{
    /// <summary>A small Transformer encoder trained from scratch on a text column (Boolean label).</summary>
    public static TextTransformerBinaryTrainer TextTransformer(this BinaryClassificationCatalog.BinaryClassificationTrainers catalog, TextClassifierOptions? options = null)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? new TextClassifierOptions());

    /// <summary>A small Transformer encoder trained from scratch on a text column (key-typed label).</summary>
    public static TextTransformerMulticlassTrainer TextTransformer(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, TextClassifierOptions? options = null)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? new TextClassifierOptions());
}
