using System.Diagnostics;
using MLNetExt.Core;
using MLNetExt.Transforms.Circuits;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.PreRoutGnn;

/// <summary>Options of <see cref="PreRoutGnnTrainer"/>. Defaults follow the reference except where this CPU-only machine needs fewer steps.</summary>
public sealed class PreRoutGnnOptions
{
    /// <summary>Components and widths. Default: PreRoutGNN (pre-training, residual, LUT attention).</summary>
    public PreRoutGnnArchitecture Architecture { get; set; } = new(Pretraining: true, Residual: true, Readout: LutReadout.Attention);
    /// <summary>Auto-encoder pre-training epochs (full-batch over the training graphs; reference 10,000).</summary>
    public int PretrainEpochs { get; set; } = 300;
    /// <summary>Timing training epochs (one pass over every training piece; reference 30,000 with one step per epoch).</summary>
    public int Epochs { get; set; } = 300;
    /// <summary>Adam learning rate for the network and the fine-tuned encoder (reference 5e-4).</summary>
    public double LearningRate { get; set; } = 1e-3;
    /// <summary>Adam learning rate of pre-training.</summary>
    public double PretrainLearningRate { get; set; } = 2e-3;
    /// <summary>Gradient-norm clip (reference 1e3).</summary>
    public double GradientClip { get; set; } = 1e3;
    /// <summary>
    /// One optimiser step per training piece (true) or one per epoch with gradients accumulated over all pieces (false, the
    /// reference). Per piece gives many more updates for the same compute, which a CPU budget needs. With false, a design
    /// split into windows takes the same steps as the whole graph and ends as accurate (held-out slack R² within 0.02 in
    /// docs/preroutgnn.md); with true, the windows' extra steps move it further in the same epochs.
    /// </summary>
    public bool StepPerPiece { get; set; } = true;
    /// <summary>Order-preserving partition: pins per window (reference 50,000). Graphs at most this large stay whole.</summary>
    public int PartitionNodes { get; set; } = 50_000;
    /// <summary>Context levels before and after each window (reference 4).</summary>
    public int PartitionPadLevels { get; set; } = 4;
    /// <summary>
    /// Pins per epoch (0 = every piece every epoch): each epoch trains on a random subset of the training pieces holding
    /// about this many pins, so large designs enter training without making every epoch as slow as the whole set.
    /// Pre-training samples its pieces the same way.
    /// </summary>
    public int PinsPerEpoch { get; set; }
    /// <summary>
    /// Scheduled sampling (ours; 0 = the reference's pure teacher forcing): the share of training pieces whose propagation
    /// steps take their predecessors' states from the model's own sequential prediction (computed without gradients from
    /// the pieces' true sources) instead of the labels, ramped linearly from 0 to this value over the first half of the
    /// epochs. It trains the steps on the kind of input they see at inference, where errors of earlier levels carry on.
    /// </summary>
    public double SelfFeedRate { get; set; }
    /// <summary>
    /// Evaluate the validation graphs before training and every this many epochs, and keep the best weights (by
    /// <see cref="SelectBy"/>). The evaluation before training lets a network started from the tables
    /// (<see cref="PreRoutGnnArchitecture.StartFromTables"/>) keep the tables' prediction when training does not beat it.
    /// </summary>
    public int ValidateEvery { get; set; } = 10;
    /// <summary>
    /// The validation score that selects the weights (ours; the reference keeps the last epoch). Default: endpoint slack R²,
    /// the figure sign-off cares about; arrival R² is the other choice.
    /// </summary>
    public PreRoutGnnSelection SelectBy { get; set; } = PreRoutGnnSelection.SlackR2;
    /// <summary>Seed (reference 3407).</summary>
    public int Seed { get; set; } = 3407;
    /// <summary>Receives a report after every epoch.</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Cancels training between steps.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming a bad option.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (PretrainEpochs < 0) throw new ArgumentOutOfRangeException(nameof(PretrainEpochs), PretrainEpochs, "PretrainEpochs must not be negative.");
        if (Architecture.Pretraining && PretrainEpochs == 0)
            throw new ArgumentOutOfRangeException(nameof(PretrainEpochs), 0, "Pre-training is on (Architecture.Pretraining) but PretrainEpochs is 0.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive.");
        if (PartitionNodes < 100) throw new ArgumentOutOfRangeException(nameof(PartitionNodes), PartitionNodes, "PartitionNodes must be at least 100.");
        if (PinsPerEpoch < 0) throw new ArgumentOutOfRangeException(nameof(PinsPerEpoch), PinsPerEpoch, "PinsPerEpoch must not be negative (0 = all).");
        if (!(SelfFeedRate >= 0 && SelfFeedRate <= 1)) throw new ArgumentOutOfRangeException(nameof(SelfFeedRate), SelfFeedRate, "SelfFeedRate must be between 0 and 1.");
        if (ValidateEvery < 1) throw new ArgumentOutOfRangeException(nameof(ValidateEvery), ValidateEvery, "ValidateEvery must be at least 1.");
        if (PartitionPadLevels < 0) throw new ArgumentOutOfRangeException(nameof(PartitionPadLevels), PartitionPadLevels, "PartitionPadLevels must not be negative.");
    }
}

/// <summary>Which mean validation R² <see cref="PreRoutGnnTrainer"/> maximises when it picks the weights.</summary>
public enum PreRoutGnnSelection
{
    /// <summary>Endpoint slack R².</summary>
    SlackR2,
    /// <summary>Arrival-time R² over all pins.</summary>
    ArrivalR2,
}

/// <summary>
/// Trains PreRoutGNN on labelled timing graphs: auto-encoder pre-training, then teacher-forced timing training over the
/// order-preserving pieces of every training design, selecting weights on validation designs (never on test designs).
/// </summary>
public sealed class PreRoutGnnTrainer
{
    /// <summary>Creates a trainer.</summary>
    public PreRoutGnnTrainer(PreRoutGnnOptions? options = null)
    {
        Options = options ?? new PreRoutGnnOptions();
        Options.Validate();
    }

    /// <summary>The options.</summary>
    public PreRoutGnnOptions Options { get; }

    /// <summary>Per-epoch mean training loss of the last <see cref="Fit"/>.</summary>
    public IReadOnlyList<double> LossHistory { get; private set; } = Array.Empty<double>();
    /// <summary>Auto-encoder reconstruction loss per pre-training epoch of the last <see cref="Fit"/>.</summary>
    public IReadOnlyList<double> PretrainLossHistory { get; private set; } = Array.Empty<double>();
    /// <summary>
    /// (epoch, mean validation score by <see cref="PreRoutGnnOptions.SelectBy"/>) of the last <see cref="Fit"/>, epoch 0
    /// being the network before timing training; the returned weights are those of the best entry.
    /// </summary>
    public IReadOnlyList<(int Epoch, double Score)> ValidationHistory { get; private set; } = Array.Empty<(int, double)>();
    /// <summary>Peak managed + native working set during the last <see cref="Fit"/>, bytes.</summary>
    public long PeakWorkingSet { get; private set; }

    /// <summary>Trains on <paramref name="train"/>; <paramref name="validation"/> (other designs) selects the weights.</summary>
    /// <exception cref="ArgumentException">No training graph, or a graph is malformed (the message names it).</exception>
    public PreRoutGnnModel Fit(IReadOnlyList<TimingGraph> train, IReadOnlyList<TimingGraph>? validation = null)
    {
        if (train.Count == 0) throw new ArgumentException("at least one training graph is needed", nameof(train));
        var o = Options;
        TorchDevices.Seed(o.Seed);
        var rng = new Random(o.Seed);
        var clock = Stopwatch.StartNew();
        var pieces = train.SelectMany(g => OrderPreservingPartition.Split(g, o.PartitionNodes, o.PartitionPadLevels))
            .Select(p => TimingGraphTensors.From(p.Graph, valid: p.Valid, designUnits: o.Architecture.DesignUnits)).ToList();
        var validationTensors = (validation ?? Array.Empty<TimingGraph>()).Select(g => TimingGraphTensors.From(g, designUnits: o.Architecture.DesignUnits)).ToList();
        try
        {
            DeepGcnii? encoder = null;
            if (o.Architecture.Pretraining) encoder = Pretrain(pieces, rng);
            var network = new PreRoutGnnNetwork(o.Architecture, encoder);
            var optimizer = optim.Adam(network.parameters(), o.LearningRate);
            var losses = new List<double>();
            double best = double.NegativeInfinity;
            Dictionary<string, Tensor>? bestWeights = null;
            var validationHistory = new List<(int, double)>();
            double? Validate(int epoch)
            {
                if (validationTensors.Count == 0) return null;
                network.eval();
                double score = validationTensors.Select(v => PreRoutGnnModel.Score(network, v))
                    .Average(m => o.SelectBy == PreRoutGnnSelection.SlackR2 ? m.SlackR2 : m.ArrivalR2);
                if (double.IsNaN(score)) score = double.NegativeInfinity;
                validationHistory.Add((epoch, score));
                if (score > best)
                {
                    best = score;
                    bestWeights?.Values.ToList().ForEach(t => t.Dispose());
                    bestWeights = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                }
                return score;
            }
            Validate(0);
            for (int epoch = 1; epoch <= o.Epochs; epoch++)
            {
                o.CancellationToken.ThrowIfCancellationRequested();
                network.train();
                double total = 0;
                if (!o.StepPerPiece) optimizer.zero_grad();
                var epochPieces = Sample(pieces, rng);
                double selfFeed = o.SelfFeedRate * Math.Min(1, epoch / Math.Max(1, o.Epochs / 2.0));
                foreach (var piece in epochPieces)
                {
                    using var scope = NewDisposeScope();
                    if (o.StepPerPiece) optimizer.zero_grad();
                    using var outputs = network.TeacherForced(piece, selfFed: selfFeed > 0 && rng.NextDouble() < selfFeed);
                    var loss = Loss(outputs, piece);
                    (o.StepPerPiece ? loss : loss / epochPieces.Count).backward();
                    total += loss.item<float>();
                    if (o.StepPerPiece) { nn.utils.clip_grad_norm_(network.parameters(), o.GradientClip); optimizer.step(); }
                }
                if (!o.StepPerPiece) { nn.utils.clip_grad_norm_(network.parameters(), o.GradientClip); optimizer.step(); }
                double mean = total / epochPieces.Count;
                if (!double.IsFinite(mean)) throw new InvalidOperationException($"PreRoutGNN training diverged at epoch {epoch} (loss {mean}); lower LearningRate.");
                losses.Add(mean);
                double? validationScore = epoch % o.ValidateEvery == 0 || epoch == o.Epochs ? Validate(epoch) : null;
                PeakWorkingSet = Math.Max(PeakWorkingSet, Process.GetCurrentProcess().WorkingSet64);
                o.Progress?.Report(new TrainingProgress(epoch, o.Epochs, epoch, o.Epochs, mean, validationScore is null ? null : 1 - validationScore, o.LearningRate, clock.Elapsed));
            }
            if (bestWeights is not null)
            {
                network.load_state_dict(bestWeights);
                foreach (var t in bestWeights.Values) t.Dispose();
            }
            network.eval();
            LossHistory = losses;
            ValidationHistory = validationHistory;
            return new PreRoutGnnModel(network);
        }
        finally
        {
            foreach (var p in pieces) p.Dispose();
            foreach (var v in validationTensors) v.Dispose();
        }
    }

    private DeepGcnii Pretrain(List<TimingGraphTensors> pieces, Random rng)
    {
        var autoEncoder = new GraphAutoEncoder();
        var optimizer = optim.Adam(autoEncoder.parameters(), Options.PretrainLearningRate);
        var history = new List<double>();
        for (int epoch = 0; epoch < Options.PretrainEpochs; epoch++)
        {
            Options.CancellationToken.ThrowIfCancellationRequested();
            optimizer.zero_grad();
            double total = 0;
            var epochPieces = Sample(pieces, rng);
            foreach (var piece in epochPieces)
            {
                using var scope = NewDisposeScope();
                var loss = autoEncoder.call(piece) / epochPieces.Count;
                loss.backward();
                total += loss.item<float>();
            }
            optimizer.step();
            history.Add(total);
        }
        PretrainLossHistory = history;
        return autoEncoder.Encoder;
    }

    // A random order of all pieces, cut after about PinsPerEpoch pins (at least one piece).
    private List<TimingGraphTensors> Sample(List<TimingGraphTensors> pieces, Random rng)
    {
        var order = pieces.OrderBy(_ => rng.Next()).ToList();
        if (Options.PinsPerEpoch == 0) return order;
        var chosen = new List<TimingGraphTensors>();
        long pins = 0;
        foreach (var p in order)
        {
            if (chosen.Count > 0 && pins + p.NodeCount > Options.PinsPerEpoch) continue;
            chosen.Add(p); pins += p.NodeCount;
        }
        return chosen;
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
