using Microsoft.ML;
using MLNetExt.PreRoutGnn;
using MLNetExt.Transforms.Circuits;

namespace MLNetExt;

/// <summary>Catalog entry for the PreRoutGNN pre-routing timing regressor.</summary>
public static class PreRoutGnnCatalog
{
    /// <summary>
    /// PreRoutGNN: learns pin arrival times, slews, net and cell delays of placed designs from labelled
    /// <see cref="TimingGraph"/>s (see <see cref="CircuitDataset"/>). A design is one training example, so the trainer's
    /// <see cref="PreRoutGnnTrainer.Fit"/> takes graphs rather than a row table; predictions come back per pin and can be
    /// turned into an <see cref="IDataView"/> with <see cref="PreRoutGnnModel.PredictPins"/>.
    /// </summary>
    public static PreRoutGnnTrainer PreRoutGnn(this RegressionCatalog.RegressionTrainers catalog, PreRoutGnnOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new PreRoutGnnTrainer(options);
    }
}
