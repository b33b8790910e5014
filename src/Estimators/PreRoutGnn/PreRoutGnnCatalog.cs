using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>Catalog entries for the PreRoutGNN pre-routing timing regressor.</summary>
public static class PreRoutGnnCatalog
{
    /// <summary>
    /// PreRoutGNN: learns pin arrival times, slews, net and cell delays of placed designs. It fits on pin rows naming
    /// their design's timing graph file (see <see cref="PreRoutGnnTrainer"/>; <see cref="TimingGraphDataView.PinsOf"/>
    /// makes them) and returns a <see cref="PreRoutGnnTransformer"/> that adds each pin's predicted timing.
    /// </summary>
    /// <param name="catalog">The regression trainers of an <see cref="MLContext"/>, whose seed, GPU settings and log the trainer uses.</param>
    /// <param name="options">Options; null = <see cref="PreRoutGnnOptions.Recommended"/>.</param>
    public static PreRoutGnnTrainer PreRoutGnn(this RegressionCatalog.RegressionTrainers catalog, PreRoutGnnOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new PreRoutGnnTrainer(CatalogUtils.GetEnvironment(catalog), options);
    }

    /// <summary>
    /// PreRoutGNN's metrics on the designs of <paramref name="data"/> (its distinct graph files, which must be labelled):
    /// endpoint slack R² (worst late slack per endpoint), and the R² of arrival times (pins with fan-in), ln-slews, ln net
    /// delays (net sinks) and cell arc delays, per corner then averaged, per design and over designs.
    /// Per-pin columns can also be scored with <c>Evaluate(model.Transform(data), "Slack", "PredictedSlack")</c>.
    /// </summary>
    public static TimingEvaluation Evaluate(this RegressionCatalog catalog, PreRoutGnnTransformer model, IDataView data)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        return model.Evaluate(PreRoutGnnTrainer.ReadGraphs(data, model.GraphColumnName));
    }
}
