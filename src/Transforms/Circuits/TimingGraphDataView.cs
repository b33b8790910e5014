using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>One pin of a timing graph as an ML.NET row: pre-routing features and post-route labels (ns).</summary>
public sealed class TimingPinRow
{
    /// <summary>"technology/design".</summary>
    public string Design { get; set; } = "";
    /// <summary>Pin name.</summary>
    public string Pin { get; set; } = "";
    /// <summary>The timing graph file the row's design was read from (empty for rows of in-memory graphs).</summary>
    public string GraphPath { get; set; } = "";
    /// <summary>The graph's node features (see <see cref="TimingGraph.NodeFeatureCount"/>).</summary>
    [VectorType(TimingGraph.NodeFeatureCount)] public float[] Features { get; set; } = Array.Empty<float>();
    /// <summary>Topological level.</summary>
    public float Level { get; set; }
    /// <summary>Fan-in and fan-out edge counts (net + cell), cheap structural features for per-pin baselines.</summary>
    [VectorType(2)] public float[] Degree { get; set; } = Array.Empty<float>();
    /// <summary>Timing endpoint with a required time.</summary>
    public bool IsEndpoint { get; set; }
    /// <summary>Arrival per corner (EarlyRise, EarlyFall, LateRise, LateFall); NaN when unknown.</summary>
    [VectorType(TimingGraph.CornerCount)] public float[] Arrival { get; set; } = Array.Empty<float>();
    /// <summary>Slew per corner.</summary>
    [VectorType(TimingGraph.CornerCount)] public float[] Slew { get; set; } = Array.Empty<float>();
    /// <summary>Required time per corner.</summary>
    [VectorType(TimingGraph.CornerCount)] public float[] Required { get; set; } = Array.Empty<float>();
    /// <summary>Worst late (setup) slack: min over rise/fall of required − arrival; NaN when unconstrained.</summary>
    public float Slack { get; set; }
    /// <summary>Worst late arrival: max over rise/fall.</summary>
    public float LateArrival { get; set; }
}

/// <summary>One design as an ML.NET row: its timing graph file (see <see cref="TimingGraphDataView.Designs"/>).</summary>
public sealed class TimingDesignRow
{
    /// <summary>The timing graph file (<see cref="TimingGraphFile"/>).</summary>
    public string GraphPath { get; set; } = "";
    /// <summary>Empty: the row stands for the whole design (the column lets pin-row pipelines accept it).</summary>
    public string Pin { get; set; } = "";
}

/// <summary>Timing graphs as ML.NET data: one row per pin, for per-pin models, inspection and export.</summary>
public static class TimingGraphDataView
{
    /// <summary>Rows of every pin of <paramref name="graphs"/>.</summary>
    public static IEnumerable<TimingPinRow> Rows(IEnumerable<TimingGraph> graphs) => Rows(graphs.Select(g => (g, "")));

    /// <summary>
    /// An <see cref="IDataView"/> with one <see cref="TimingPinRow"/> per pin of each graph file (<see cref="TimingGraphFile"/>),
    /// <see cref="TimingPinRow.GraphPath"/> set: the rows PreRoutGNN fits on and scores. The files are read when the view is.
    /// </summary>
    public static IDataView PinsOf(MLContext mlContext, IEnumerable<string> graphFiles)
    {
        var files = graphFiles.ToList();
        return mlContext.Data.LoadFromEnumerable(Rows(files.Select(f => (TimingGraphFile.Load(f), f))));
    }

    /// <summary>
    /// An <see cref="IDataView"/> with one <see cref="TimingDesignRow"/> per graph file, without reading the files: enough
    /// to train PreRoutGNN, which reads whole designs (scoring needs pin rows, <see cref="PinsOf"/>).
    /// </summary>
    public static IDataView Designs(MLContext mlContext, IEnumerable<string> graphFiles) =>
        mlContext.Data.LoadFromEnumerable(graphFiles.Select(f => new TimingDesignRow { GraphPath = f, Pin = "" }).ToList());

    private static IEnumerable<TimingPinRow> Rows(IEnumerable<(TimingGraph Graph, string Path)> graphs)
    {
        foreach (var (g, path) in graphs)
        {
            var fanIn = new int[g.NodeCount]; var fanOut = new int[g.NodeCount];
            foreach (var (s, t) in g.NetSource.Zip(g.NetTarget).Concat(g.CellSource.Zip(g.CellTarget))) { fanOut[s]++; fanIn[t]++; }
            var slack = g.Slack();
            const int F = TimingGraph.NodeFeatureCount, C = TimingGraph.CornerCount;
            for (int i = 0; i < g.NodeCount; i++)
            {
                float late = MinIgnoringNaN(slack[i * C + 2], slack[i * C + 3]);
                yield return new TimingPinRow
                {
                    Design = $"{g.Technology}/{g.Design}", Pin = g.PinNames[i], GraphPath = path, Features = g.NodeFeatures.AsSpan(i * F, F).ToArray(),
                    Level = g.Levels[i], Degree = new float[] { fanIn[i], fanOut[i] }, IsEndpoint = g.IsEndpoint[i],
                    Arrival = g.ArrivalTime.AsSpan(i * C, C).ToArray(), Slew = g.Slew.AsSpan(i * C, C).ToArray(),
                    Required = g.RequiredTime.AsSpan(i * C, C).ToArray(), Slack = late,
                    LateArrival = -MinIgnoringNaN(-g.ArrivalTime[i * C + 2], -g.ArrivalTime[i * C + 3]),
                };
            }
        }
    }

    /// <summary>An <see cref="IDataView"/> with one <see cref="TimingPinRow"/> per pin of <paramref name="graphs"/>.</summary>
    public static IDataView Pins(MLContext mlContext, IEnumerable<TimingGraph> graphs) =>
        mlContext.Data.LoadFromEnumerable(Rows(graphs.ToList()));

    private static float MinIgnoringNaN(float a, float b) => float.IsNaN(a) ? b : float.IsNaN(b) ? a : Math.Min(a, b);
}
