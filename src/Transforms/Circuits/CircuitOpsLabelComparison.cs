namespace MLNetExt;

/// <summary>How far a graph's OpenSTA labels are from a CircuitOps <c>pin_properties.csv</c> (medians of |difference|, picoseconds).</summary>
/// <param name="MatchedPins">Pins present in both with finite values.</param>
/// <param name="ArrivalMedianPs">Late rise and fall arrival.</param>
/// <param name="SlewMedianPs">Worst late slew (CircuitOps <c>pin_tran</c>).</param>
/// <param name="SlackMedianPs">Worst late slack (CircuitOps <c>pin_slack</c>), over pins whose slack is constrained in both.</param>
/// <param name="SlackPins">Pins compared for slack.</param>
public sealed record CircuitOpsLabelComparison(int MatchedPins, double ArrivalMedianPs, double SlewMedianPs, double SlackMedianPs, int SlackPins)
{
    /// <summary>Compares <paramref name="graph"/>'s labels with the IR table <paramref name="pinProperties"/> (SI units).</summary>
    /// <exception cref="ArgumentException">The table lacks one of the label columns.</exception>
    public static CircuitOpsLabelComparison Compare(TimingGraph graph, CsvTable pinProperties)
    {
        foreach (var c in new[] { "pin_name", "pin_rise_arr", "pin_fall_arr", "pin_tran", "pin_slack" })
            if (!pinProperties.Has(c)) throw new ArgumentException($"{pinProperties.Source} has no column '{c}'", nameof(pinProperties));
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.NodeCount; i++) index[graph.PinNames[i]] = i;
        var arrival = new List<double>(); var slew = new List<double>(); var slack = new List<double>();
        int matched = 0;
        var ourSlack = graph.Slack();
        for (int row = 0; row < pinProperties.Count; row++)
        {
            if (!index.TryGetValue(StaTimingReport.PinName(pinProperties.Text(row, "pin_name")), out var i)) continue;
            double rise = pinProperties.Number(row, "pin_rise_arr") * 1e12, fall = pinProperties.Number(row, "pin_fall_arr") * 1e12;
            double ourRise = graph.ArrivalTime[i * 4 + 2] * 1e3, ourFall = graph.ArrivalTime[i * 4 + 3] * 1e3;
            if (!double.IsFinite(ourRise) || !double.IsFinite(ourFall) || Math.Abs(rise) > 1e20 || Math.Abs(fall) > 1e20) continue;
            matched++;
            arrival.Add(Math.Abs(rise - ourRise)); arrival.Add(Math.Abs(fall - ourFall));
            double tran = pinProperties.Number(row, "pin_tran") * 1e12;
            double ourTran = Math.Max(graph.Slew[i * 4 + 2], graph.Slew[i * 4 + 3]) * 1e3;
            if (double.IsFinite(ourTran) && Math.Abs(tran) < 1e20) slew.Add(Math.Abs(tran - ourTran));
            double s = pinProperties.Number(row, "pin_slack") * 1e12;
            double ours = Math.Min(Finite(ourSlack[i * 4 + 2]), Finite(ourSlack[i * 4 + 3])) * 1e3;
            if (double.IsFinite(ours) && Math.Abs(s) < 1e20) slack.Add(Math.Abs(s - ours));
        }
        return new CircuitOpsLabelComparison(matched, Median(arrival), Median(slew), Median(slack), slack.Count);
    }

    private static double Finite(float v) => float.IsFinite(v) ? v : double.PositiveInfinity;

    private static double Median(List<double> v)
    {
        if (v.Count == 0) return double.NaN;
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
