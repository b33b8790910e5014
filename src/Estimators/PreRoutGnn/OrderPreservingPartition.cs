
namespace MLNetExt;

/// <summary>A piece of a partitioned graph: the induced sub-graph and which of its pins are the window's own (loss counts there).</summary>
public sealed record GraphPiece(TimingGraph Graph, bool[] Valid, int FirstLevel, int EndLevel);

/// <summary>
/// PreRoutGNN's order-preserving partition: windows of consecutive levels (grown two levels at a time, keeping the
/// net/cell alternation) until a window holds at least <c>maxNodes</c> pins, each padded with <c>padLevels</c> context
/// levels before and after. Every pin is valid in exactly one piece, so a training epoch still sees every label once,
/// while peak memory is bounded by the window size instead of the design size.
/// </summary>
public static class OrderPreservingPartition
{
    /// <summary>Splits <paramref name="graph"/>; a graph with at most <paramref name="maxNodes"/> pins is one piece.</summary>
    public static IReadOnlyList<GraphPiece> Split(TimingGraph graph, int maxNodes, int padLevels = 4)
    {
        if (maxNodes <= 0) throw new ArgumentOutOfRangeException(nameof(maxNodes), "the window size must be positive");
        int levels = graph.LevelCount;
        if (graph.NodeCount <= maxNodes) return new[] { new GraphPiece(graph, Enumerable.Repeat(true, graph.NodeCount).ToArray(), 0, levels) };
        var perLevel = new int[levels];
        foreach (var l in graph.Levels) perLevel[l]++;
        var pieces = new List<GraphPiece>();
        for (int start = 0; start < levels;)
        {
            int end = start, count = 0;
            while (end < levels && count < maxNodes)
            {
                for (int k = 0; k < 2 && end < levels; k++) count += perLevel[end++];
            }
            int lo = Math.Max(0, start - padLevels), hi = Math.Min(levels, end + padLevels);
            var nodes = Enumerable.Range(0, graph.NodeCount).Where(i => graph.Levels[i] >= lo && graph.Levels[i] < hi).ToArray();
            var valid = nodes.Select(i => graph.Levels[i] >= start && graph.Levels[i] < end).ToArray();
            pieces.Add(new GraphPiece(graph.Subgraph(nodes), valid, start, end));
            start = end;
        }
        return pieces;
    }
}
