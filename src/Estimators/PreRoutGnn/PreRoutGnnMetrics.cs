using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt;

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

/// <summary>R² metrics of designs and their mean (what <c>mlContext.Regression.Evaluate(model, data)</c> returns for PreRoutGNN).</summary>
/// <param name="PerDesign">One entry per design.</param>
/// <param name="Mean">Mean of each metric over the designs.</param>
public sealed record TimingEvaluation(IReadOnlyList<TimingMetrics> PerDesign, TimingMetrics Mean)
{
    /// <summary>Mean endpoint slack R² (the headline figure).</summary>
    public double SlackR2 => Mean.SlackR2;
    /// <summary>Mean arrival-time R².</summary>
    public double ArrivalR2 => Mean.ArrivalR2;
    /// <summary>Mean ln-slew R².</summary>
    public double SlewR2 => Mean.SlewR2;
    /// <summary>Mean ln net delay R².</summary>
    public double NetDelayR2 => Mean.NetDelayR2;
    /// <summary>Mean cell delay R².</summary>
    public double CellDelayR2 => Mean.CellDelayR2;
}

/// <summary>Scores a network on labelled graphs (shared by the trainer's validation, the transformer and the catalog).</summary>
internal static class TimingScoring
{
    /// <summary>R² metrics of each graph and their mean.</summary>
    public static TimingEvaluation Evaluate(PreRoutGnnNetwork network, IEnumerable<TimingGraph> graphs, Device device)
    {
        network.eval();
        var list = graphs.Select(graph =>
        {
            using var g = TimingGraphTensors.From(graph, device, designUnits: network.Architecture.DesignUnits);
            return Score(network, g);
        }).ToList();
        if (list.Count == 0) throw new ArgumentException("There is no design to evaluate.", nameof(graphs));
        return new TimingEvaluation(list, TimingMetrics.Average(list));
    }

    /// <summary>Arrival times in ns, [N·4], from a propagated state [N, 8] in model time units.</summary>
    internal static float[] ArrivalNs(float[] state, int n, float timeScale)
    {
        var arrival = new float[n * 4];
        for (int i = 0; i < n; i++) for (int c = 0; c < 4; c++) arrival[i * 4 + c] = state[i * 8 + c] * timeScale;
        return arrival;
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

}
