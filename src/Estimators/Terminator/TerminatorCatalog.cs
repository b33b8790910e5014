using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetExt.Terminator;

namespace MLNetExt;

/// <summary>Catalog entry for the Terminator (HyperZ·Z·W) classifier.</summary>
public static class TerminatorCatalog
{
    /// <summary>
    /// A Terminator slow-fast classifier for images (C×H×W float vectors) or pixel sequences (key-typed label).
    /// </summary>
    public static TerminatorTrainer Terminator(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, TerminatorOptions? options = null)
        => new(CatalogUtils.GetEnvironment(catalog), options ?? new TerminatorOptions());
}
