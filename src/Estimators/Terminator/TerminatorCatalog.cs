using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Catalog entry for the Terminator (HyperZ·Z·W) classifier.</summary>
public static class TerminatorCatalog
{
    /// <summary>
    /// A Terminator slow-fast classifier for images (C×H×W float vectors) or pixel sequences (key-typed label), with
    /// every setting in <paramref name="options"/>.
    /// </summary>
    public static TerminatorTrainer Terminator(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, TerminatorOptions options)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>
    /// A Terminator classifier with the default settings: the common case, as ML.NET's own trainers offer it.
    /// </summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">Key-typed label column.</param>
    /// <param name="featureColumnName">Float vector of C×H×W pixels (or a pixel sequence).</param>
    /// <param name="epochs">Passes over the training data (default: the <see cref="TerminatorOptions"/> default).</param>
    public static TerminatorTrainer Terminator(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", int? epochs = null)
    {
        var options = new TerminatorOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName };
        if (epochs is int e) options.Epochs = e;
        return new(CatalogUtils.GetEnvironment(catalog), options);
    }
}
