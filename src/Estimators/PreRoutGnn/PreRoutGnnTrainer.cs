using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

/// <summary>What a <see cref="PreRoutGnnTrainer"/> fit did (on <see cref="PreRoutGnnTransformer.TrainingReport"/>).</summary>
/// <param name="Training">Timing training through the shared loop: per-epoch mean loss, steps, time, best epoch (0 = before training).</param>
/// <param name="Pretraining">Auto-encoder pre-training (per-epoch reconstruction loss), or null without pre-training.</param>
/// <param name="Validation">(epoch, mean validation score by <see cref="SelectedBy"/>; arrival R² for LastEpoch), epoch 0 being
/// the network before timing training; empty without validation designs.</param>
/// <param name="SelectedBy">How the returned weights were chosen.</param>
/// <param name="Seed">The seed used (the options' or the MLContext's).</param>
/// <param name="TrainingDesigns">technology/design of each training design.</param>
public sealed record PreRoutGnnTrainingReport(TrainingHistory Training, TrainingHistory? Pretraining, IReadOnlyList<(int Epoch, double Score)> Validation,
    PreRoutGnnSelection SelectedBy, int Seed, IReadOnlyList<string> TrainingDesigns);

/// <summary>
/// Trains PreRoutGNN: auto-encoder pre-training, then teacher-forced timing training over the order-preserving pieces of
/// every training design, both through the shared <see cref="TorchTrainingLoop"/>, selecting weights on validation
/// designs (never on test designs).
/// </summary>
/// <remarks>
/// <para>Data: one row per pin (or at least one row per design) with a text column naming the design's timing graph file
/// (<see cref="PreRoutGnnOptions.GraphColumnName"/>, written by <see cref="TimingGraphFile.Save"/>) and a text column with
/// the pin name (<see cref="PreRoutGnnOptions.PinColumnName"/>); <see cref="TimingGraphDataView.PinsOf(MLContext, IEnumerable{string})"/>
/// makes such rows. A design is one training example, so <see cref="Fit(IDataView)"/> trains on the distinct graph files of
/// its input, with the labels (OpenSTA) stored in the graphs; the rows only select the designs. Pin rows make the
/// transformer's output an ordinary per-pin table that ML.NET's evaluators and prediction engines work with.</para>
/// <para>Fit does not change the trainer: it can be fitted again, and the history is on the returned model.</para>
/// </remarks>
public sealed class PreRoutGnnTrainer : IEstimator<PreRoutGnnTransformer>
{
    internal const string MethodName = "PreRoutGnn";
    private readonly IHostEnvironment _env;
    private readonly PreRoutGnnOptions _options;

    internal PreRoutGnnTrainer(IHostEnvironment env, PreRoutGnnOptions? options)
    {
        _env = env ?? throw new ArgumentNullException(nameof(env));
        _options = (options ?? new PreRoutGnnOptions()).Clone();
        _options.Validate();
    }

    /// <summary>A copy of the options this trainer was created with.</summary>
    public PreRoutGnnOptions Options => _options.Clone();

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        foreach (var name in new[] { _options.GraphColumnName, _options.PinColumnName })
        {
            if (!inputSchema.TryFindColumn(name, out var column))
                throw new ArgumentException($"Column '{name}' was not found in the input schema (PreRoutGNN reads the graph file and the pin name of each row).");
            if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType != TextDataViewType.Instance)
                throw new ArgumentException($"Column '{name}' must be a text scalar.");
        }
        var columns = inputSchema.ToDictionary(c => c.Name);
        foreach (var c in PreRoutGnnTransformer.Columns)
            columns[c.Name] = new SchemaShape.Column(c.Name, c.Kind == ScoreColumnKind.FloatVector ? SchemaShape.Column.VectorKind.Vector : SchemaShape.Column.VectorKind.Scalar,
                NumberDataViewType.Single, false);
        return new SchemaShape(columns.Values);
    }

    /// <summary>Trains on the designs of <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">No design, or a graph is malformed (the message names it).</exception>
    public PreRoutGnnTransformer Fit(IDataView input) => Fit(input, null);

    /// <summary>Trains on the designs of <paramref name="input"/>; those of <paramref name="validation"/> (other designs) select the weights.</summary>
    /// <exception cref="ArgumentException">No design, or a graph is malformed (the message names it).</exception>
    public PreRoutGnnTransformer Fit(IDataView input, IDataView? validation)
    {
        ArgumentNullException.ThrowIfNull(input);
        var train = ReadGraphs(input, _options.GraphColumnName);
        var held = validation is null ? new List<TimingGraph>() : ReadGraphs(validation, _options.GraphColumnName);
        return Fit(train, held);
    }

    // The designs of a view: its distinct graph files, in order of first appearance.
    internal static List<TimingGraph> ReadGraphs(IDataView data, string column)
    {
        DataViewReader.RequireColumn(data.Schema, column, "Graph");
        var paths = data.GetColumn<ReadOnlyMemory<char>>(column).Select(m => m.ToString()).Distinct().ToList();
        var graphs = new List<TimingGraph>();
        foreach (var path in paths)
        {
            if (path.Length == 0) throw new ArgumentException($"Column '{column}' has an empty graph file name.");
            graphs.Add(TimingGraphFile.Load(path));
        }
        return graphs;
    }

    internal PreRoutGnnTransformer Fit(IReadOnlyList<TimingGraph> train, IReadOnlyList<TimingGraph> validation)
    {
        if (train.Count == 0) throw new ArgumentException("At least one training design is needed.", nameof(train));
        var o = _options;
        var a = o.Architecture;
        int seed = TorchSeeds.Resolve(o.Seed, _env);
        var split = train.SelectMany(g => OrderPreservingPartition.Split(g, o.PartitionNodes, o.PartitionPadLevels)).ToList();
        var timingLoop = new TorchTrainingLoop(_env, MethodName, LoopOptions(o, seed, o.Epochs, o.LearningRate, o.StepPerPiece ? 1 : split.Count, o.Progress));
        var device = timingLoop.Device;
        var pieces = split.Select(p => TimingGraphTensors.From(p.Graph, device, p.Valid, a.DesignUnits)).ToList();
        var validationTensors = validation.Select(g => TimingGraphTensors.From(g, device, designUnits: a.DesignUnits)).ToList();
        try
        {
            TrainingHistory? pretraining = null;
            DeepGcnii? encoder = null;
            if (a.Pretraining) (encoder, pretraining) = Pretrain(pieces, seed);
            // Seeded again so that the timing network's initialisation does not depend on whether pre-training ran.
            TorchDevices.Seed(seed);
            var network = new PreRoutGnnNetwork(a, encoder);
            network.to(device);
            using var optimizer = timingLoop.CreateOptimizer(network);
            var scores = new List<double>();
            double ValidationLoss()
            {
                var metrics = validationTensors.Select(v => TimingScoring.Score(network, v)).ToList();
                double score = metrics.Average(m => o.SelectBy == PreRoutGnnSelection.SlackR2 ? m.SlackR2 : m.ArrivalR2);
                scores.Add(score);
                // The loop minimises: 1 − R², with an undefined R² (no endpoint) never the best.
                return double.IsNaN(score) ? double.PositiveInfinity : 1 - score;
            }
            var control = new TrainingLoopControl
            {
                ValidateEvery = o.ValidateEvery, ValidateBeforeTraining = true, KeepBestWeights = o.SelectBy != PreRoutGnnSelection.LastEpoch,
                EarlyStoppingPatience = o.EarlyStoppingPatience, GradientClipNorm = o.GradientClip,
                MicroBatchSize = 1, EpochRows = Sampler(pieces, o.PinsPerEpoch),
            };
            var history = timingLoop.Run(network, pieces.Count, rows => Loss(network.TeacherForced(pieces[(int)rows[0].item<long>()]), pieces[(int)rows[0].item<long>()]),
                validationTensors.Count > 0 ? ValidationLoss : null, optimizer, control);
            network.eval();
            var epochs = history.ValidationEpochs ?? Enumerable.Range(1, history.ValidationLoss.Count).ToList();
            var report = new PreRoutGnnTrainingReport(history, pretraining, epochs.Zip(scores, (e, s) => (e, s)).ToList(), o.SelectBy, seed,
                train.Select(g => $"{g.Technology}/{g.Design}").ToList());
            return new PreRoutGnnTransformer(_env, o.GraphColumnName, o.PinColumnName, network, o.Device, report);
        }
        finally
        {
            foreach (var p in pieces) p.Dispose();
            foreach (var v in validationTensors) v.Dispose();
        }
    }

    // One step per piece, or (the reference) one per epoch over all sampled pieces, each piece back-propagated on its own.
    private static TorchTrainerOptions LoopOptions(PreRoutGnnOptions o, int seed, int epochs, double learningRate, int piecesPerStep, IProgress<TrainingProgress>? progress) => new()
    {
        Epochs = epochs, BatchSize = piecesPerStep, LearningRate = learningRate, Optimizer = TorchOptimizerKind.Adam,
        Seed = seed, Device = o.Device, Progress = progress, CancellationToken = o.CancellationToken,
    };

    private (DeepGcnii Encoder, TrainingHistory History) Pretrain(List<TimingGraphTensors> pieces, int seed)
    {
        var o = _options;
        // Full batch as in the reference: one step per epoch, gradients of every sampled piece averaged. Reported to the log only.
        var options = LoopOptions(o, seed, o.PretrainEpochs, o.PretrainLearningRate, pieces.Count, progress: null);
        var loop = new TorchTrainingLoop(_env, MethodName + ".Pretraining", options);
        var autoEncoder = new GraphAutoEncoder();
        autoEncoder.to(loop.Device);
        using var optimizer = loop.CreateOptimizer(autoEncoder);
        var history = loop.Run(autoEncoder, pieces.Count, rows => autoEncoder.call(pieces[(int)rows[0].item<long>()]), optimizer: optimizer,
            control: new TrainingLoopControl { MicroBatchSize = 1, EpochRows = Sampler(pieces, o.PinsPerEpoch) });
        return (autoEncoder.Encoder, history);
    }

    // A random order of all pieces, cut after about pinsPerEpoch pins (at least one piece); null = all pieces, shuffled by the loop.
    private static Func<Random, IReadOnlyList<int>>? Sampler(List<TimingGraphTensors> pieces, int pinsPerEpoch)
    {
        if (pinsPerEpoch == 0) return null;
        return rng =>
        {
            var chosen = new List<int>();
            long pins = 0;
            foreach (var p in Enumerable.Range(0, pieces.Count).OrderBy(_ => rng.Next()))
            {
                if (chosen.Count > 0 && pins + pieces[p].NodeCount > pinsPerEpoch) continue;
                chosen.Add(p); pins += pieces[p].NodeCount;
            }
            return chosen;
        };
    }

    /// <summary>
    /// Sum of the four equally weighted MSEs: state (arrival + ln-slew) on predicted pins, ln net delay on net sinks and
    /// cell delay on arcs, each over the piece's valid pins with a label.
    /// </summary>
    public static Tensor Loss(TimingOutputs outputs, TimingGraphTensors g)
    {
        var predicted = g.HasFanIn * g.Valid.unsqueeze(1);
        var stateMask = g.StateMask * predicted;
        var netMask = g.NetDelayMask * g.IsNetSink * g.Valid.unsqueeze(1);
        var cellMask = g.CellDelayMask * g.Valid.index_select(0, g.CellTarget).unsqueeze(1);
        Tensor Mse(Tensor p, Tensor t, Tensor m) => ((p - t).pow(2) * m).sum() / m.sum().clamp_min(1);
        return Mse(outputs.State, g.State, stateMask) + Mse(outputs.NetDelay, g.NetDelay, netMask) + Mse(outputs.CellDelay, g.CellDelay, cellMask);
    }
}
