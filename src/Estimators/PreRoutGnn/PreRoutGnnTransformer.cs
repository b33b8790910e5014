using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using MLNetExt;

[assembly: LoadableClass(typeof(PreRoutGnnTransformer), null, typeof(SignatureLoadModel), "MLNetExt PreRoutGNN timing regressor", PreRoutGnnTransformer.LoaderSignature)]

namespace MLNetExt;

/// <summary>
/// A trained PreRoutGNN: adds each pin's predicted timing to rows that name a timing graph file and a pin (see
/// <see cref="PreRoutGnnTrainer"/>). Every design is predicted once, by level-order propagation from its primary inputs,
/// and its pins are read from that prediction. Output columns (ns; corners EarlyRise, EarlyFall, LateRise, LateFall):
/// <c>PredictedArrival</c> and <c>PredictedSlew</c> (4 each), <c>PredictedNetDelay</c> (4, NaN off net sinks),
/// <c>PredictedLateArrival</c> (worst late arrival) and <c>PredictedSlack</c> (worst late slack = required − predicted
/// arrival at endpoints, NaN elsewhere). The "Predicted" prefix keeps <see cref="TimingPinRow"/>'s label columns
/// (<c>Arrival</c>, <c>Slack</c>, …) visible, so <c>mlContext.Regression.Evaluate(scored, "Slack", "PredictedSlack")</c>
/// scores endpoint slack directly.
/// </summary>
public sealed class PreRoutGnnTransformer : TorchModelTransformer
{
    internal const string LoaderSignature = "MLNXPreRoutGnn";
    private static readonly string[] Corners = { "EarlyRise", "EarlyFall", "LateRise", "LateFall" };

    internal static readonly ScoreColumn[] Columns =
    {
        new("PredictedArrival", ScoreColumnKind.FloatVector, 4, Corners), new("PredictedSlew", ScoreColumnKind.FloatVector, 4, Corners),
        new("PredictedNetDelay", ScoreColumnKind.FloatVector, 4, Corners), new("PredictedLateArrival", ScoreColumnKind.Float, 1),
        new("PredictedSlack", ScoreColumnKind.Float, 1),
    };

    private readonly DesignCache _designs;

    internal PreRoutGnnTransformer(IHostEnvironment env, string graphColumnName, string pinColumnName, PreRoutGnnNetwork network,
        TorchDeviceKind device, PreRoutGnnTrainingReport? report)
        : this(env, new DesignCache(), graphColumnName, pinColumnName, network, device, report) { }

    private PreRoutGnnTransformer(IHostEnvironment env, DesignCache designs, string graphColumnName, string pinColumnName, PreRoutGnnNetwork network,
        TorchDeviceKind device, PreRoutGnnTrainingReport? report)
        : base(env, PreRoutGnnTrainer.MethodName, new PinInput(graphColumnName, pinColumnName, designs), network)
    {
        _designs = designs;
        designs.Predict = PinColumns;
        Network = network;
        DeviceKind = device;
        TrainingReport = report;
        // Propagation always runs on the module's device; the feature rows only carry (design, pin) indices.
        ScoringBatchSize = 4096;
    }

    /// <summary>The trained network (eval mode).</summary>
    public PreRoutGnnNetwork Network { get; }
    /// <summary>The device option the model was trained with.</summary>
    public TorchDeviceKind DeviceKind { get; }
    /// <summary>Name of the graph file column.</summary>
    public string GraphColumnName => Input.ColumnNames[0];
    /// <summary>Name of the pin name column.</summary>
    public string PinColumnName => Input.ColumnNames[1];
    /// <summary>How training went (losses, validation scores, seed); null for a model loaded from a file.</summary>
    public PreRoutGnnTrainingReport? TrainingReport { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<ScoreColumn> ScoreColumns => Columns;

    /// <summary>Predicts <paramref name="graph"/>'s timing (sequential propagation from the primary inputs), all pins and arcs.</summary>
    public TimingPrediction Predict(TimingGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var g = TimingGraphTensors.From(graph, Device, designUnits: Network.Architecture.DesignUnits);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Network.eval();
        float ts = g.TimeScale;
        var o = Network.Propagate(g);
        var state = o.State.cpu().data<float>().ToArray();
        int n = graph.NodeCount;
        var arrival = TimingScoring.ArrivalNs(state, n, ts);
        var slew = new float[n * 4];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++) slew[i * 4 + c] = TargetScales.FromLnSlew(state[i * 8 + 4 + c]) * ts;
        var netDelay = o.NetDelay.cpu().data<float>().Select(v => TargetScales.FromLnNetDelay(v) * ts).ToArray();
        var cell = o.CellDelay.cpu().data<float>().Select(v => v * ts).ToArray();
        var slack = graph.RequiredTime.Select((r, i) => r - arrival[i]).ToArray();
        return new TimingPrediction(arrival, slew, netDelay, cell, slack);
    }

    /// <summary>R² metrics of labelled graphs and their mean (in-memory counterpart of the catalog's <c>Evaluate</c>).</summary>
    public TimingEvaluation Evaluate(IEnumerable<TimingGraph> graphs)
    {
        using var _ = no_grad();
        return TimingScoring.Evaluate(Network, graphs, Device);
    }

    /// <inheritdoc/>
    protected override Tensor[] ScoreTensors(Tensor features)
    {
        var rows = features.cpu().data<float>().ToArray();
        int n = rows.Length / 2;
        var outputs = Columns.Select(c => new float[n * c.Width]).ToArray();
        for (int r = 0; r < n; r++)
        {
            var design = _designs.Prediction((int)rows[2 * r]);
            int pin = (int)rows[2 * r + 1];
            for (int k = 0; k < Columns.Length; k++)
            {
                int w = Columns[k].Width;
                Array.Copy(design[k], pin * w, outputs[k], r * w, w);
            }
        }
        return outputs.Select((v, k) => torch.tensor(v, new long[] { n, Columns[k].Width })).ToArray();
    }

    // The per-pin output columns of one design.
    private float[][] PinColumns(TimingGraph graph)
    {
        var p = Predict(graph);
        int n = graph.NodeCount;
        var isSink = new bool[n];
        foreach (var t in graph.NetTarget) isSink[t] = true;
        var netDelay = p.NetDelay.Select((v, i) => isSink[i / 4] ? v : float.NaN).ToArray();
        var late = Enumerable.Range(0, n).Select(i => Math.Max(p.ArrivalTime[i * 4 + 2], p.ArrivalTime[i * 4 + 3])).ToArray();
        var slack = TimingMetrics.EndpointSlack(graph, p.ArrivalTime).Select(v => (float)v).ToArray();
        return new[] { p.ArrivalTime, p.Slew, netDelay, late, slack };
    }

    /// <summary>
    /// Writes the network as ONNX (opset 18): graph arrays in (<see cref="PreRoutGnnOnnxInputs.From"/>), the level-order
    /// propagation as an ONNX Loop, outputs <c>arrival</c> [N, 4] (ns), <c>state</c>, <c>net_delay</c>, <c>cell_delay</c>
    /// (model time units, see <see cref="TargetScales"/>); metadata <c>mlnetext.method</c> and <c>mlnetext.architecture</c>.
    /// Not part of ML.NET's whole-pipeline <c>ConvertToOnnx</c>: a design is a graph, not a feature row.
    /// </summary>
    public override void SaveAsOnnx(string path)
    {
        var graph = PreRoutGnnOnnx.Build(Network);
        graph.AddMetadata("mlnetext.method", MethodName);
        graph.AddMetadata("mlnetext.architecture", Network.Architecture.ToJson());
        graph.Save(path);
    }

    /// <inheritdoc/>
    protected override void BuildOnnx(OnnxGraphBuilder graph, string features) =>
        throw new NotSupportedException("PreRoutGNN's ONNX model reads whole timing graphs, not feature rows; export it with SaveAsOnnx(path).");

    /// <inheritdoc/>
    protected override void WriteConfiguration(BinaryWriter writer)
    {
        writer.Write(PinColumnName);
        writer.Write((int)DeviceKind);
        writer.Write(Network.Architecture.ToJson());
    }

    private static VersionInfo GetVersion() => MakeVersionInfo("MLNXPRGN", LoaderSignature, typeof(PreRoutGnnTransformer));
    /// <inheritdoc/>
    private protected override VersionInfo GetVersionInfo() => GetVersion();

    // Called by ML.NET's model loader (registered with [LoadableClass] above).
    private static PreRoutGnnTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        var stored = LoadPayload(ctx, GetVersion(), PreRoutGnnTrainer.MethodName);
        using var r = stored.OpenConfig();
        var common = ReadCommonConfiguration(stored, r);
        string pin = r.ReadString();
        var device = (TorchDeviceKind)r.ReadInt32();
        var network = new PreRoutGnnNetwork(PreRoutGnnArchitecture.FromJson(r.ReadString()));
        stored.LoadWeights(network);
        return WithCommon(new PreRoutGnnTransformer(env, common.FeatureColumnName, pin, network, device, report: null), common);
    }

    /// <summary>Rows as (design index, pin index) pairs: the designs are interned by graph file, pins looked up by name.</summary>
    private sealed record PinInput(string GraphColumn, string PinColumn, DesignCache Designs) : IModelInput
    {
        public IReadOnlyList<string> ColumnNames => new[] { GraphColumn, PinColumn };
        public int Width => 2;

        public void CheckSchema(DataViewSchema schema)
        {
            foreach (var (name, role) in new[] { (GraphColumn, "Graph"), (PinColumn, "Pin") })
            {
                var column = DataViewReader.RequireColumn(schema, name, role);
                if (column.Type is not TextDataViewType)
                    throw new ArgumentException($"{role} column '{name}' must be text, not {DataViewReader.Describe(column.Type)}.");
            }
        }

        public RowFeatureFiller CreateFiller(DataViewRow row)
        {
            var graph = row.GetGetter<ReadOnlyMemory<char>>(row.Schema[GraphColumn]);
            var pin = row.GetGetter<ReadOnlyMemory<char>>(row.Schema[PinColumn]);
            ReadOnlyMemory<char> g = default, p = default;
            return destination =>
            {
                graph(ref g);
                pin(ref p);
                var (design, index) = Designs.Locate(g.ToString(), p.ToString());
                destination[0] = design;
                destination[1] = index;
            };
        }
    }

    /// <summary>
    /// The designs a transformer has seen: graph files interned to small indices (exact as floats), and the graphs and
    /// predictions of the most recent few kept, since rows of one design usually come together.
    /// </summary>
    private sealed class DesignCache
    {
        private const int Kept = 4;
        private const int MaxExactFloat = 1 << 24;
        private readonly object _lock = new();
        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
        private readonly List<string> _paths = new();
        private readonly LinkedList<Design> _recent = new();

        public Func<TimingGraph, float[][]> Predict { get; set; } = null!;

        public (int Design, int Pin) Locate(string path, string pin)
        {
            if (path.Length == 0) throw new InvalidDataException("A row has an empty graph file name.");
            var design = Get(path);
            if (!design.Pins.TryGetValue(pin, out int index))
                throw new InvalidDataException($"Pin '{pin}' is not in the timing graph {path} ({design.Graph.Technology}/{design.Graph.Design}).");
            return (design.Id, index);
        }

        public float[][] Prediction(int id)
        {
            var design = Get(_paths[id]);
            lock (_lock) return design.Columns ??= Predict(design.Graph);
        }

        private Design Get(string path)
        {
            lock (_lock)
            {
                for (var node = _recent.First; node != null; node = node.Next)
                    if (node.Value.Path == path)
                    {
                        _recent.Remove(node);
                        _recent.AddFirst(node);
                        return node.Value;
                    }
                if (!_ids.TryGetValue(path, out int id))
                {
                    id = _ids[path] = _paths.Count;
                    _paths.Add(path);
                }
                var graph = TimingGraphFile.Load(path);
                if (id >= MaxExactFloat || graph.NodeCount >= MaxExactFloat)
                    throw new NotSupportedException($"{path}: more than {MaxExactFloat} designs or pins per design cannot be scored in one view.");
                var pins = new Dictionary<string, int>(graph.NodeCount, StringComparer.Ordinal);
                for (int i = 0; i < graph.NodeCount; i++) pins[graph.PinNames[i]] = i;
                var design = new Design(id, path, graph, pins);
                _recent.AddFirst(design);
                if (_recent.Count > Kept) _recent.RemoveLast();
                return design;
            }
        }

        private sealed record Design(int Id, string Path, TimingGraph Graph, Dictionary<string, int> Pins)
        {
            public float[][]? Columns { get; set; }
        }
    }
}
