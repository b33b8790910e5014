using Microsoft.ML;

namespace MLNetExt.Tests.PreRoutGnn;

public sealed class PreRoutGnnTests
{
    // The paper's architecture with whole designs every epoch and the reference's clip: short runs on tiny designs.
    internal static PreRoutGnnOptions Quick(int epochs = 40) => new()
    {
        Architecture = PreRoutGnnArchitecture.Paper, Epochs = epochs, PretrainEpochs = 20, LearningRate = 2e-3, GradientClip = 1e3, PinsPerEpoch = 0,
        PartitionNodes = 50_000, Seed = 1,
    };

    // Trains on in-memory graphs through the catalog's trainer (the IDataView entry is tested in PreRoutGnnEstimatorTests).
    internal static PreRoutGnnTransformer Fit(PreRoutGnnOptions options, IReadOnlyList<TimingGraph> train, IReadOnlyList<TimingGraph>? validation = null)
        => new MLContext().Regression.Trainers.PreRoutGnn(options).Fit(train, validation ?? Array.Empty<TimingGraph>());

    private static PreRoutGnnArchitecture Arch(bool pretraining, bool residual, LutReadout readout, CellStepKind cellStep = CellStepKind.Learned, bool designUnits = false,
        TableLoad load = TableLoad.PinCapacitance, bool startFromTables = false) => new()
    {
        Pretraining = pretraining, Residual = residual, Readout = readout, CellStep = cellStep, DesignUnits = designUnits, TableLoad = load,
        Initialization = startFromTables ? PreRoutGnnInitialization.Tables : PreRoutGnnInitialization.Random,
    };

    [Fact]
    public void LookupReadsOnlyTheTransitionsAnArcsUnatenessOrClockEdgeAllows()
    {
        // Tiny design: INV (negative_unate) → DFF (CK→Q rising_edge) → INV. Every arc source rises at 0 and falls at 100
        // (as a clock's falling edge comes half a period after its rise): a flop's Q must take the rise only, an inverter's
        // output rise the input fall and its output fall the input rise, in early and late corners alike (± the arc delays).
        var graph = TimingGraphBuilder.Build(Circuits.TinyDesign.Module(), Circuits.TinyDesign.Placement(), new[] { Circuits.TinyDesign.Library() }, technology: "tiny");
        using var g = TimingGraphTensors.From(graph);
        using var scope = TorchSharp.torch.NewDisposeScope();
        long arcs = graph.CellSource.Length;
        var propagation = new SignalPropagation(8, 16, true, LutReadout.Attention, lutLookup: true);
        var source = TorchSharp.torch.tensor(new float[] { 0, 100, 0, 100, 0, 0, 0, 0 }).expand(arcs, 8);
        var features = TorchSharp.torch.zeros(arcs, 8);
        var (_, _, _, lookup) = propagation.CellArcs(source, features, features, g.LutAxes, g.LutValues, g.LutMask, g.ArcExclusion);
        var arrival = lookup!.data<float>().ToArray();
        for (int e = 0; e < arcs; e++)
        {
            string arc = $"{graph.PinNames[graph.CellSource[e]]} → {graph.PinNames[graph.CellTarget[e]]}";
            bool flop = graph.CellArcSense[e] == TimingArcSense.RisingEdge;
            Assert.True(flop || graph.CellArcSense[e] == TimingArcSense.NegativeUnate, arc);
            for (int c = 0; c < 4; c++)
            {
                bool outputRises = c % 2 == 0, fromFall = !flop && outputRises;
                float a = arrival[e * 8 + c];
                Assert.True(fromFall ? a > 90 : a < 10, $"{arc}, corner {c}: arrival {a}");
            }
        }
    }

    [Fact]
    public void SyntheticCircuitsAreDeepAndFullyLabelled()
    {
        var g = SyntheticCircuits.Generate(1, 60);
        Assert.True(g.LevelCount >= 8, $"{g.LevelCount} levels");
        Assert.Equal(60 + 8, g.PinNames.Count(p => p.EndsWith("/Y", StringComparison.Ordinal)) + 8);
        Assert.All(g.ArrivalTime, a => Assert.True(float.IsFinite(a)));
        Assert.Equal(4, g.IsEndpoint.Count(e => e));
    }

    [Fact]
    public void TrainingOnTwoTinyDesignsReducesLossAndPredictsEveryPinAndArc()
    {
        var train = new[] { SyntheticCircuits.Generate(1, 60, "a"), SyntheticCircuits.Generate(2, 60, "b") };
        using var model = Fit(Quick(), train);
        var pretrain = model.TrainingReport!.Pretraining!.TrainLoss;
        var losses = model.TrainingReport.Training.TrainLoss;
        Assert.True(pretrain[^1] < pretrain[0] * 0.7, $"pre-training {pretrain[0]} → {pretrain[^1]}");
        double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
        Assert.True(last < first * 0.5, $"loss {first} → {last}");
        var test = SyntheticCircuits.Generate(3, 50, "c");
        var p = model.Predict(test);
        Assert.Equal(test.NodeCount * 4, p.ArrivalTime.Length);
        Assert.Equal(test.NodeCount * 4, p.Slew.Length);
        Assert.Equal(test.CellSource.Length * 4, p.CellDelay.Length);
        Assert.All(p.ArrivalTime, a => Assert.True(float.IsFinite(a)));
        // Sequential propagation on an unseen design already tracks arrival better than its mean.
        var (_, mean) = model.Evaluate(new[] { test });
        Assert.True(mean.ArrivalR2 > 0, $"arrival R² {mean.ArrivalR2}");
    }

    [Fact]
    public void PartitionMakesEveryPinValidInExactlyOnePieceAndBoundsPieceSize()
    {
        var g = SyntheticCircuits.Generate(5, 300);
        var pieces = OrderPreservingPartition.Split(g, maxNodes: 150, padLevels: 2);
        Assert.True(pieces.Count >= 3, $"{pieces.Count} pieces");
        var owned = pieces.SelectMany(p => p.Graph.PinNames.Where((_, i) => p.Valid[i])).ToList();
        Assert.Equal(g.NodeCount, owned.Count);
        Assert.Equal(g.PinNames.Order(), owned.Order());
        Assert.True(pieces.Max(p => p.Graph.NodeCount) < g.NodeCount);
        // Windows are consecutive and even-sized in levels (except the last), so net and cell steps stay paired.
        for (int k = 1; k < pieces.Count; k++) Assert.Equal(pieces[k - 1].EndLevel, pieces[k].FirstLevel);
        Assert.All(pieces.SkipLast(1), p => Assert.Equal(0, (p.EndLevel - p.FirstLevel) % 2));
        // Training on the pieces works (loss on own pins only).
        var options = Quick(epochs: 2);
        options.PretrainEpochs = 1; options.PartitionNodes = 150; options.PartitionPadLevels = 2;
        using var model = Fit(options, new[] { g });
        Assert.Equal(2, model.TrainingReport!.Training.TrainLoss.Count);
        Assert.All(model.TrainingReport.Training.TrainLoss, l => Assert.True(double.IsFinite(l)));
        Assert.Equal(2 * pieces.Count, model.TrainingReport.Training.Steps); // one step per piece and epoch
    }

    [Fact]
    public void MalformedGraphsAreRejectedNamingTheProblem()
    {
        var g = SyntheticCircuits.Generate(6, 20);
        var nan = Copy(g, features: g.NodeFeatures.Select((v, i) => i == 13 ? float.NaN : v).ToArray());
        var e1 = Assert.Throws<ArgumentException>(() => TimingGraphTensors.Validate(nan));
        Assert.Contains("node feature 3", e1.Message);
        var noLut = Copy(g, axes: g.CellLutAxes.Select((v, i) => i < TimingGraph.LutCount * TimingGraph.LutAxisWidth ? 0f : v).ToArray());
        var e2 = Assert.Throws<ArgumentException>(() => TimingGraphTensors.Validate(noLut));
        Assert.Contains("has no LUT", e2.Message);
        var loop = Copy(g, levels: g.Levels.Select(_ => 0).ToArray());
        var e3 = Assert.Throws<ArgumentException>(() => TimingGraphTensors.Validate(loop));
        Assert.Contains("does not go to a higher level", e3.Message);
        Assert.Throws<ArgumentException>(() => Fit(Quick(), new[] { noLut }));
    }

    [Fact]
    public void OptionsAreValidated()
    {
        var ml = new MLContext();
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { Epochs = 0 }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { PretrainEpochs = 0 }));
        Assert.Contains("Pre-training is on", e.Message);
        _ = ml.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { PretrainEpochs = 0, Architecture = Arch(false, false, LutReadout.QueryMask) });
        var load = Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { Architecture = PreRoutGnnArchitecture.Paper with { TableLoad = TableLoad.PinAndWireCapacitance } }));
        Assert.Contains("TableLoad", load.Message);
        Assert.Throws<ArgumentException>(() => ml.Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { EarlyStoppingPatience = 2, SelectBy = PreRoutGnnSelection.LastEpoch }));
    }

    [Fact]
    public void APartitionPiecesSequentialPassStartsFromTheLabelsAtItsOwnSources()
    {
        // A piece's first context level has its drivers outside the piece, so its sequential pass starts from the labels there.
        var train = SyntheticCircuits.Generate(1, 60, "a");
        using var model = Fit(Quick(epochs: 3), new[] { train });
        var piece = OrderPreservingPartition.Split(train, 150, 2)[1];
        using var tensors = TimingGraphTensors.From(piece.Graph, valid: piece.Valid);
        using (TorchSharp.torch.no_grad())
        {
            using var outputs = model.Network.Propagate(tensors, trueSources: true);
            var sources = tensors.Sources;
            var start = outputs.State.index_select(0, sources);
            var truth = tensors.State.index_select(0, sources);
            Assert.True(sources.shape[0] > 0);
            Assert.Equal(0, (start - truth).abs().max().item<float>(), 6);
            using var fromInputs = model.Network.Propagate(tensors);
            Assert.True(fromInputs.State.index_select(0, sources).sub(truth).abs().max().item<float>() > 0, "without trueSources the piece's inner sources start at 0");
        }
    }

    [Fact]
    public void LutLookupPredictsAnUnseenDesignsTimingBetterThanTheTablesReadByAttentionAlone()
    {
        // The synthetic labels come from an STA that reads the same NLDM tables, so reading them at the input slew and the
        // driven load (LutLookup) is the right prior: after the same short training the held-out design's cell delays and
        // slack must be predicted better than by the paper's model (attention over the tables, cell residual), and the
        // option must survive save/load.
        var train = new[] { SyntheticCircuits.Generate(1, 60, "a"), SyntheticCircuits.Generate(2, 60, "b") };
        var test = SyntheticCircuits.Generate(3, 50, "c");
        TimingMetrics Run(bool lookup, out PreRoutGnnTransformer model)
        {
            var options = Quick(epochs: 30);
            options.Architecture = Arch(true, true, LutReadout.Attention, lookup ? CellStepKind.TableCorrection : CellStepKind.LatestInputResidual);
            model = Fit(options, train);
            return model.Evaluate(new[] { test }).Mean;
        }
        var plain = Run(false, out var plainModel);
        plainModel.Dispose();
        var read = Run(true, out var model);
        using (model)
        {
            Assert.True(read.CellDelayR2 > plain.CellDelayR2 && read.CellDelayR2 > 0.5, $"cell delay R² {read.CellDelayR2} with the lookup, {plain.CellDelayR2} without");
            Assert.True(read.SlackR2 > plain.SlackR2, $"slack R² {read.SlackR2} with the lookup, {plain.SlackR2} without");
            var ml = new MLContext();
            using var stream = new MemoryStream();
            ml.Model.Save(model, null, stream);
            stream.Position = 0;
            using var loaded = (PreRoutGnnTransformer)new MLContext().Model.Load(stream, out _);
            Assert.Equal(CellStepKind.TableCorrection, loaded.Network.Architecture.CellStep);
            Assert.Equal(model.Predict(test).ArrivalTime, loaded.Predict(test).ArrivalTime);
        }
    }

    [Fact]
    public void WireLoadAddsTheNetsEstimatedWireCapacitanceToTheLoadTheTablesAreReadAt()
    {
        var g = SyntheticCircuits.Generate(5, 300);
        using var t = TimingGraphTensors.From(g);
        using var pins = new PreRoutGnnNetwork(Arch(false, true, LutReadout.Attention, CellStepKind.TableCorrection));
        using var wired = new PreRoutGnnNetwork(Arch(false, true, LutReadout.Attention, CellStepKind.TableCorrection, load: TableLoad.PinAndWireCapacitance));
        var pinLoad = pins.PinLoad(t).data<float>().ToArray();
        var wiredLoad = wired.PinLoad(t).data<float>().ToArray();
        // Expected from the raw graph: per driver Σ sink pin capacitances + 0.1 fF/µm × the half-perimeter (µm) of the box
        // around the driver and its sinks × max(1, √(fanout / 6.4)), in the LUT load unit of the reference's units (pF × 10).
        var expectPins = new double[g.NodeCount * 4]; var expectWire = new double[g.NodeCount * 4];
        foreach (var net in Enumerable.Range(0, g.NetSource.Length).GroupBy(e => g.NetSource[e]))
        {
            double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
            foreach (var e in net)
            {
                for (int c = 0; c < 4; c++) expectPins[net.Key * 4 + c] += g.NodeFeatures[g.NetTarget[e] * TimingGraph.NodeFeatureCount + 6 + c] * 10;
                x0 = Math.Min(x0, g.NetEdgeFeatures[2 * e]); x1 = Math.Max(x1, g.NetEdgeFeatures[2 * e]);
                y0 = Math.Min(y0, g.NetEdgeFeatures[2 * e + 1]); y1 = Math.Max(y1, g.NetEdgeFeatures[2 * e + 1]);
            }
            double wire = 1e-4 * (x1 - x0 + y1 - y0) * Math.Max(1, Math.Sqrt(net.Count() / 6.4)) * 10;
            for (int c = 0; c < 4; c++) expectWire[net.Key * 4 + c] = wire;
        }
        Assert.Contains(g.NetSource.GroupBy(d => d).Select(d => d.Count()), f => f > 6.4); // the fanout factor is exercised
        Assert.True(expectWire.Max() > expectPins.Max() / 10, "the synthetic placement must give the wire a visible share");
        for (int i = 0; i < pinLoad.Length; i++)
        {
            Assert.InRange(pinLoad[i], expectPins[i] - 1e-4 - 1e-4 * expectPins[i], expectPins[i] + 1e-4 + 1e-4 * expectPins[i]);
            double w = expectPins[i] + expectWire[i];
            Assert.InRange(wiredLoad[i], w - 1e-4 - 1e-3 * w, w + 1e-4 + 1e-3 * w);
        }
        Assert.Throws<ArgumentException>(() => new PreRoutGnnNetwork(Arch(false, true, LutReadout.Attention, load: TableLoad.PinAndWireCapacitance)));
    }

    [Fact]
    public void WireLoadPredictsCellDelaysBetterWhenTheLabelsCountWireCapacitance()
    {
        // Labels whose STA adds 0.08 fF/µm × the Manhattan distance to every sink (about 3–5× the pin capacitance here):
        // reading the tables at pin capacitance alone cannot follow loads that are not proportional to it; the WireLoad
        // estimate (half-perimeter × fanout factor, not the labels' star length) gets closer.
        var train = new[] { SyntheticCircuits.Generate(1, 60, "a", 0.08), SyntheticCircuits.Generate(2, 60, "b", 0.08) };
        var test = SyntheticCircuits.Generate(3, 50, "c", 0.08);
        TimingMetrics Run(bool wire)
        {
            var options = Quick(epochs: 30);
            options.Architecture = Arch(false, true, LutReadout.Attention, CellStepKind.TableCorrection, load: wire ? TableLoad.PinAndWireCapacitance : TableLoad.PinCapacitance);
            options.PretrainEpochs = 0;
            using var model = Fit(options, train);
            return model.Evaluate(new[] { test }).Mean;
        }
        var pinsOnly = Run(false);
        var wired = Run(true);
        Assert.True(wired.CellDelayR2 > pinsOnly.CellDelayR2 && wired.CellDelayR2 > 0.5,
            $"held-out cell delay R² {wired.CellDelayR2} with the wire load, {pinsOnly.CellDelayR2} with pin loads only");
    }

    [Fact]
    public void StartFromTablesMakesTheUntrainedNetworkTheStaOfItsTables()
    {
        // Labels from an STA on the same tables with pin loads and no wire delay: an untrained lookup network whose
        // corrections start at zero already reproduces them; with random corrections it does not.
        var test = SyntheticCircuits.Generate(3, 60, "c", wireDelayNsPerMicron: 0);
        TimingMetrics Untrained(bool start)
        {
            TorchSharp.torch.manual_seed(1);
            using var network = new PreRoutGnnNetwork(Arch(false, true, LutReadout.Attention, CellStepKind.TableCorrection, designUnits: true, startFromTables: start));
            return TimingScoring.Evaluate(network, new[] { test }, TorchSharp.torch.CPU).Mean;
        }
        var tables = Untrained(true);
        var random = Untrained(false);
        // (Early corners: the network takes the earliest arc as STA does, these labels the latest, so arrival R² is lower.)
        Assert.True(tables.CellDelayR2 > 0.98 && tables.SlackR2 > 0.8 && tables.SlackR2 > random.SlackR2 + 0.3,
            $"untrained: cell delay R² {tables.CellDelayR2} / {random.CellDelayR2}, slack {tables.SlackR2} / {random.SlackR2} (tables / random)");
        Assert.Throws<ArgumentException>(() => new PreRoutGnnNetwork(Arch(false, true, LutReadout.Attention, startFromTables: true)));
    }

    [Fact]
    public void ValidationKeepsTheBestCheckpointCountingTheTablesBeforeTraining()
    {
        // A network started from the tables is scored on a validation design before training (epoch 0) and every
        // ValidateEvery epochs; the weights returned are those of the best score, so a learning rate that spoils
        // the tables cannot make the model worse on validation than the tables alone.
        var train = new[] { SyntheticCircuits.Generate(1, 60, "a", wireDelayNsPerMicron: 0) };
        var validation = SyntheticCircuits.Generate(2, 60, "v", wireDelayNsPerMicron: 0);
        var arch = Arch(false, true, LutReadout.Attention, CellStepKind.TableArrival, designUnits: true, startFromTables: true);
        var options = new PreRoutGnnOptions { Architecture = arch, PretrainEpochs = 0, Epochs = 12, ValidateEvery = 4, LearningRate = 1e-2, PinsPerEpoch = 0, Seed = 3 };
        using var model = Fit(options, train, new[] { validation });
        var history = model.TrainingReport!.Validation;
        MLNetExt.TorchDevices.Seed(options.Seed!.Value);
        using var tables = new PreRoutGnnNetwork(arch);
        double tablesSlack = TimingScoring.Evaluate(tables, new[] { validation }, TorchSharp.torch.CPU).Mean.SlackR2;
        Assert.Equal(new[] { 0, 4, 8, 12 }, history.Select(h => h.Epoch));
        Assert.Equal(tablesSlack, history[0].Score, 6);
        double best = history.Max(h => h.Score);
        Assert.Equal(best, model.Evaluate(new[] { validation }).Mean.SlackR2, 6);
        Assert.Equal(history.First(h => h.Score == best).Epoch, model.TrainingReport.Training.BestEpoch);
        Assert.True(best >= tablesSlack && tablesSlack > 0.5, $"validation slack R²: tables {tablesSlack}, history {string.Join(", ", history)}");
        Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext().Regression.Trainers.PreRoutGnn(new PreRoutGnnOptions { ValidateEvery = 0 }));
    }

    [Fact]
    public void CellArrivalFromTablesLeavesCellOutputArrivalsToTheTablesAndLearnsTheRest()
    {
        // Two networks that differ only in their learned cell correction: with CellArrivalFromTables the reduction's
        // output is masked to the ln-slews, so propagating the same graph after training the correction differently
        // changes cell-output slews but, for the same input states, not their arrivals.
        var g = SyntheticCircuits.Generate(4, 80, "d");
        using var t = TimingGraphTensors.From(g, designUnits: true);
        var arch = Arch(false, true, LutReadout.Attention, CellStepKind.TableArrival, designUnits: true, load: TableLoad.PinAndWireCapacitance);
        using var a = new PreRoutGnnNetwork(arch);
        using var b = new PreRoutGnnNetwork(arch);
        b.load_state_dict(a.state_dict());
        using (TorchSharp.torch.no_grad())
            foreach (var (name, p) in b.named_parameters())
                if (name.StartsWith("_propagation._reduce.", StringComparison.Ordinal)) p.add_(TorchSharp.torch.randn_like(p) * 0.5f);
        a.eval(); b.eval();
        var oa = a.TeacherForced(t); var ob = b.TeacherForced(t);
        var cellOutputs = TorchSharp.torch.tensor(Enumerable.Range(0, g.NodeCount).Select(i => g.CellTarget.Contains(i) ? 1f : 0f).ToArray()).unsqueeze(1);
        float arrivalGap = ((oa.State - ob.State)[.., ..4] * cellOutputs).abs().max().item<float>();
        float slewGap = ((oa.State - ob.State)[.., 4..] * cellOutputs).abs().max().item<float>();
        Assert.Equal(0f, arrivalGap);
        Assert.True(slewGap > 1e-3f, $"the slew correction must still be learned (gap {slewGap})");
        // Without the tables there is no table arrival to keep: the paper's cell step learns the whole state.
        Assert.False(Arch(false, true, LutReadout.Attention).CellArrivalFromTables);
    }

    private static TimingGraph Copy(TimingGraph g, float[]? features = null, float[]? axes = null, int[]? levels = null, float[]? arrival = null) => new()
    {
        Design = g.Design, Technology = g.Technology, PinNames = g.PinNames, NodeFeatures = features ?? g.NodeFeatures, Levels = levels ?? g.Levels,
        NetSource = g.NetSource, NetTarget = g.NetTarget, NetEdgeFeatures = g.NetEdgeFeatures, CellSource = g.CellSource, CellTarget = g.CellTarget,
        CellLutAxes = axes ?? g.CellLutAxes, CellLutValues = g.CellLutValues, CellLutMask = g.CellLutMask, ArrivalTime = arrival ?? g.ArrivalTime, Slew = g.Slew,
        RequiredTime = g.RequiredTime, NetDelay = g.NetDelay, CellDelay = g.CellDelay, IsEndpoint = g.IsEndpoint,
    };
}

public sealed class PreRoutGnnOnnxTests
{
    [Theory]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.Learned, false, TableLoad.PinCapacitance)]
    [InlineData(false, false, LutReadout.QueryMask, CellStepKind.Learned, false, TableLoad.PinCapacitance)]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.LatestInputResidual, false, TableLoad.PinCapacitance)]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.LatestInputResidual, true, TableLoad.PinCapacitance)]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.TableCorrection, true, TableLoad.PinCapacitance)]
    [InlineData(false, true, LutReadout.Attention, CellStepKind.TableCorrection, false, TableLoad.PinCapacitance)]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.TableCorrection, true, TableLoad.PinAndWireCapacitance)]
    [InlineData(true, true, LutReadout.Attention, CellStepKind.TableArrival, true, TableLoad.PinAndWireCapacitance)]
    public void OnnxExportReproducesSequentialPropagationOnAHeldOutDesign(bool pretraining, bool residual, LutReadout readout, CellStepKind cellStep, bool designUnits, TableLoad load)
    {
        var train = SyntheticCircuits.Generate(11, 50, "train");
        var heldOut = SyntheticCircuits.Generate(12, 70, "held_out");
        var options = PreRoutGnnTests.Quick(epochs: 5);
        options.Architecture = new PreRoutGnnArchitecture { Pretraining = pretraining, Residual = residual, Readout = readout, CellStep = cellStep, DesignUnits = designUnits, TableLoad = load };
        options.PretrainEpochs = pretraining ? 3 : 0;
        options.Seed = 2;
        using var model = PreRoutGnnTests.Fit(options, new[] { train });
        var path = Path.Combine(Path.GetTempPath(), $"prg{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var inputs = PreRoutGnnOnnxInputs.From(heldOut, model.Network.Architecture);
            using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path);
            Assert.Equal("PreRoutGnn", session.ModelMetadata.CustomMetadataMap["mlnetext.method"]);
            Assert.Equal(model.Network.Architecture, PreRoutGnnArchitecture.FromJson(session.ModelMetadata.CustomMetadataMap["mlnetext.architecture"]));
            var onnx = Run(session, inputs);
            var p = model.Predict(heldOut);
            float ts = inputs.Floats["time_scale"].Data[0];
            Assert.Equal(heldOut.NodeCount * 8, onnx["state"].Length);
            Assert.InRange(MaxAbs(onnx["arrival"], p.ArrivalTime), 0, 1e-4);
            Assert.InRange(MaxAbs(onnx["cell_delay"].Select(v => v * ts).ToArray(), p.CellDelay), 0, 1e-4);
            var netLog = p.NetDelay.Select(v => TargetScales.ToLnNetDelay(v / ts)).ToArray();
            Assert.InRange(MaxAbs(onnx["net_delay"], netLog), 0, 1e-3);
        }
        finally { File.Delete(path); }
    }

    internal static Dictionary<string, float[]> Run(Microsoft.ML.OnnxRuntime.InferenceSession session, PreRoutGnnOnnxInputs inputs)
    {
        var feeds = inputs.Floats.Select(kv => Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(kv.Key,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(kv.Value.Data, kv.Value.Shape.Select(d => (int)d).ToArray())))
            .Concat(inputs.Longs.Select(kv => Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor(kv.Key,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(kv.Value.Data, kv.Value.Shape.Select(d => (int)d).ToArray())))).ToList();
        using var results = session.Run(feeds);
        return results.ToDictionary(r => r.Name, r => r.AsEnumerable<float>().ToArray());
    }

    internal static double MaxAbs(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
