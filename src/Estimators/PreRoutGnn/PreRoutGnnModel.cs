using MLNetExt.Core;
using MLNetExt.Transforms.Circuits;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.PreRoutGnn;

/// <summary>Timing predicted for one design (ns; corners EarlyRise, EarlyFall, LateRise, LateFall).</summary>
/// <param name="ArrivalTime">[N × 4] arrival.</param>
/// <param name="Slew">[N × 4] slew.</param>
/// <param name="NetDelay">[N × 4] net delay on net sinks.</param>
/// <param name="CellDelay">[E_cell × 4] cell arc delay.</param>
/// <param name="Slack">[N × 4] required (from the graph's labels or constraints) − predicted arrival; NaN where no required time.</param>
public sealed record TimingPrediction(float[] ArrivalTime, float[] Slew, float[] NetDelay, float[] CellDelay, float[] Slack);

/// <summary>R² of one design's predictions (per corner, then averaged), in the model's target scales.</summary>
/// <param name="Design">technology/design.</param>
/// <param name="ArrivalR2">Arrival time R² over pins with fan-in.</param>
/// <param name="SlewR2">ln-slew R².</param>
/// <param name="NetDelayR2">ln net delay R² (net sinks).</param>
/// <param name="CellDelayR2">Cell delay R² (arcs).</param>
/// <param name="SlackR2">Endpoint slack R² (worst late slack per endpoint: required − arrival).</param>
/// <param name="Endpoints">Endpoints with a finite slack.</param>
public sealed record TimingMetrics(string Design, double ArrivalR2, double SlewR2, double NetDelayR2, double CellDelayR2, double SlackR2, int Endpoints)
{
    /// <summary>Mean of each metric over designs (the benchmark's headline numbers).</summary>
    public static TimingMetrics Average(IReadOnlyList<TimingMetrics> m) => new("mean", m.Average(x => x.ArrivalR2), m.Average(x => x.SlewR2),
        m.Average(x => x.NetDelayR2), m.Average(x => x.CellDelayR2), m.Average(x => x.SlackR2), m.Sum(x => x.Endpoints));

    /// <summary>R² = 1 − SSE/SST of finite pairs (NaN with fewer than two).</summary>
    public static double R2(IReadOnlyList<double> truth, IReadOnlyList<double> prediction)
    {
        double mean = 0; int n = 0;
        for (int i = 0; i < truth.Count; i++) if (double.IsFinite(truth[i]) && double.IsFinite(prediction[i])) { mean += truth[i]; n++; }
        if (n < 2) return double.NaN;
        mean /= n;
        double sse = 0, sst = 0;
        for (int i = 0; i < truth.Count; i++)
            if (double.IsFinite(truth[i]) && double.IsFinite(prediction[i])) { sse += Math.Pow(truth[i] - prediction[i], 2); sst += Math.Pow(truth[i] - mean, 2); }
        return sst == 0 ? double.NaN : 1 - sse / sst;
    }

    /// <summary>Worst late slack per endpoint from arrival and required arrays ([N × 4]); NaN off endpoints.</summary>
    public static double[] EndpointSlack(TimingGraph g, float[] arrival)
    {
        var s = new double[g.NodeCount];
        for (int i = 0; i < g.NodeCount; i++)
        {
            s[i] = double.NaN;
            if (!g.IsEndpoint[i]) continue;
            for (int c = 2; c < 4; c++)
            {
                double v = g.RequiredTime[i * 4 + c] - arrival[i * 4 + c];
                if (double.IsFinite(v) && !(s[i] <= v)) s[i] = v;
            }
        }
        return s;
    }
}

/// <summary>A trained PreRoutGNN: predicts arrival, slew, net and cell delays of unseen designs by level-order propagation.</summary>
public sealed class PreRoutGnnModel : IDisposable
{
    /// <summary>Method name in saved payloads.</summary>
    public const string MethodName = "PreRoutGnn";

    internal PreRoutGnnModel(PreRoutGnnNetwork network) => Network = network;

    /// <summary>The network.</summary>
    public PreRoutGnnNetwork Network { get; }

    /// <summary>Predicts <paramref name="graph"/>'s timing (true sequential propagation from the primary inputs).</summary>
    public TimingPrediction Predict(TimingGraph graph)
    {
        using var g = TimingGraphTensors.From(graph, designUnits: Network.Architecture.DesignUnits);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Network.eval();
        float ts = g.TimeScale;
        var o = Network.Propagate(g);
        var state = o.State.cpu().data<float>().ToArray();
        int n = graph.NodeCount;
        var arrival = ArrivalNs(state, n, ts);
        var slew = new float[n * 4];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++) slew[i * 4 + c] = (MathF.Exp(state[i * 8 + 4 + c] - 3) - 1e-4f) * ts;
        var netDelay = o.NetDelay.cpu().data<float>().Select(v => (MathF.Exp(v - 7.6f) - 1e-4f) * ts).ToArray();
        var cell = o.CellDelay.cpu().data<float>().Select(v => v * ts).ToArray();
        var slack = graph.RequiredTime.Select((r, i) => r - arrival[i]).ToArray();
        return new TimingPrediction(arrival, slew, netDelay, cell, slack);
    }

    /// <summary>Arrival times in ns, [N·4], from a propagated state [N, 8] in model time units.</summary>
    private static float[] ArrivalNs(float[] state, int n, float timeScale)
    {
        var arrival = new float[n * 4];
        for (int i = 0; i < n; i++) for (int c = 0; c < 4; c++) arrival[i * 4 + c] = state[i * 8 + c] * timeScale;
        return arrival;
    }

    /// <summary>
    /// Predictions of <paramref name="graph"/> as ML.NET rows, one per pin: design, pin, predicted arrival and slew (4 corners,
    /// ns) and predicted worst late slack where the graph has a required time.
    /// </summary>
    public Microsoft.ML.IDataView PredictPins(Microsoft.ML.MLContext mlContext, TimingGraph graph)
    {
        var p = Predict(graph);
        var slack = TimingMetrics.EndpointSlack(graph, p.ArrivalTime);
        var rows = Enumerable.Range(0, graph.NodeCount).Select(i => new PredictedPin
        {
            Design = $"{graph.Technology}/{graph.Design}", Pin = graph.PinNames[i],
            Arrival = p.ArrivalTime.AsSpan(i * 4, 4).ToArray(), Slew = p.Slew.AsSpan(i * 4, 4).ToArray(),
            Slack = (float)slack[i], IsEndpoint = graph.IsEndpoint[i],
        }).ToList();
        return mlContext.Data.LoadFromEnumerable(rows);
    }

    /// <summary>R² metrics of each graph (labels needed) and their mean.</summary>
    public (IReadOnlyList<TimingMetrics> PerDesign, TimingMetrics Mean) Evaluate(IReadOnlyList<TimingGraph> graphs)
    {
        var list = graphs.Select(graph => { using var g = TimingGraphTensors.From(graph, designUnits: Network.Architecture.DesignUnits); return Score(Network, g); }).ToList();
        return (list, TimingMetrics.Average(list));
    }

    internal static TimingMetrics Score(PreRoutGnnNetwork network, TimingGraphTensors g)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var o = network.Propagate(g);
        var graph = g.Graph;
        float[] F(Tensor t) => t.cpu().data<float>().ToArray();
        var state = F(o.State); var truth = F(g.State); var mask = F(g.StateMask);
        var netP = F(o.NetDelay); var netT = F(g.NetDelay); var netM = F(g.NetDelayMask);
        var cellP = F(o.CellDelay); var cellT = F(g.CellDelay); var cellM = F(g.CellDelayMask);
        int n = graph.NodeCount;
        var isSink = new bool[n]; foreach (var t in graph.NetTarget) isSink[t] = true;
        double Column(float[] p, float[] t, float[] m, int width, int col, Func<int, bool> rows)
        {
            var tt = new List<double>(); var pp = new List<double>();
            for (int i = 0; i < p.Length / width; i++) if (rows(i) && m[i * width + col] > 0) { tt.Add(t[i * width + col]); pp.Add(p[i * width + col]); }
            return TimingMetrics.R2(tt, pp);
        }
        double Mean(Func<int, double> f) => Enumerable.Range(0, 4).Select(f).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
        bool Predicted(int i) => graph.Levels[i] > 0;
        var arrival = ArrivalNs(state, n, g.TimeScale);
        var trueSlack = TimingMetrics.EndpointSlack(graph, graph.ArrivalTime);
        var predSlack = TimingMetrics.EndpointSlack(graph, arrival);
        var ep = Enumerable.Range(0, n).Where(i => double.IsFinite(trueSlack[i]) && double.IsFinite(predSlack[i])).ToList();
        return new TimingMetrics($"{graph.Technology}/{graph.Design}",
            Mean(c => Column(state, truth, mask, 8, c, Predicted)), Mean(c => Column(state, truth, mask, 8, 4 + c, Predicted)),
            Mean(c => Column(netP, netT, netM, 4, c, i => isSink[i])), Mean(c => Column(cellP, cellT, cellM, 4, c, _ => true)),
            TimingMetrics.R2(ep.Select(i => trueSlack[i]).ToList(), ep.Select(i => predSlack[i]).ToList()), ep.Count);
    }

    /// <summary>Saves architecture and weights (the package's checksummed payload format).</summary>
    public void Save(string path)
    {
        var bytes = TorchModelPayload.Create(MethodName, w =>
        {
            var a = Network.Architecture;
            w.Write(a.Pretraining); w.Write(a.Residual); w.Write((int)a.Readout); w.Write(a.Hidden); w.Write(a.PropagationHidden); w.Write(a.NetConvLayers); w.Write(a.CellResidual); w.Write(a.DesignUnits); w.Write(a.ArrivalInvariant);
            w.Write(a.LutLookup); w.Write(a.WireLoad); w.Write(a.StartFromTables); w.Write(a.CellArrivalFromTables);
        }, Network);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Loads a model written by <see cref="Save"/>.</summary>
    /// <exception cref="ModelFormatException">Not a PreRoutGNN model, damaged, or weights that do not fit the stored architecture; names <paramref name="path"/>.</exception>
    public static PreRoutGnnModel Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"PreRoutGNN model not found: {path}", path);
        var stored = TorchModelPayload.Read(File.ReadAllBytes(path), MethodName, path);
        using var r = stored.OpenConfig();
        // Options added later are absent in models saved before them: read as off.
        bool Later() => r.BaseStream.Position < r.BaseStream.Length && r.ReadBoolean();
        var a = new PreRoutGnnArchitecture(r.ReadBoolean(), r.ReadBoolean(), (LutReadout)r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadBoolean(), r.ReadBoolean(),
            ArrivalInvariant: Later(), LutLookup: Later(), WireLoad: Later(),
            // Recorded for what the model was trained with; the loaded weights replace the initialisation it describes.
            StartFromTables: Later(), CellArrivalFromTables: Later());
        var network = new PreRoutGnnNetwork(a);
        stored.LoadWeights(network);
        network.eval();
        return new PreRoutGnnModel(network);
    }

    /// <inheritdoc />
    public void Dispose() => Network.Dispose();
}

/// <summary>One pin's prediction as an ML.NET row (see <see cref="PreRoutGnnModel.PredictPins"/>).</summary>
public sealed class PredictedPin
{
    /// <summary>technology/design.</summary>
    public string Design { get; set; } = "";
    /// <summary>Pin name.</summary>
    public string Pin { get; set; } = "";
    /// <summary>Predicted arrival per corner (ns).</summary>
    [Microsoft.ML.Data.VectorType(4)] public float[] Arrival { get; set; } = Array.Empty<float>();
    /// <summary>Predicted slew per corner (ns).</summary>
    [Microsoft.ML.Data.VectorType(4)] public float[] Slew { get; set; } = Array.Empty<float>();
    /// <summary>Predicted worst late slack at endpoints (NaN elsewhere).</summary>
    public float Slack { get; set; }
    /// <summary>Timing endpoint.</summary>
    public bool IsEndpoint { get; set; }
}
