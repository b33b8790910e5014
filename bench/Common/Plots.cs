namespace MLNetExt.Bench;

/// <summary>PNG plots for benchmark reports (ScottPlot).</summary>
public static class Plots
{
    /// <summary>A line plot of several named series (x, y) saved to <paramref name="path"/>.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IEnumerable<(string Name, double[] X, double[] Y)> series, int width = 800, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, x, y) in series)
        {
            var line = plot.Add.Scatter(x, y);
            line.LegendText = name;
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend();
        plot.SavePng(path, width, height);
    }

    /// <summary>A bar chart of named values saved to <paramref name="path"/>.</summary>
    public static void Bars(string path, string title, string yLabel, IReadOnlyList<(string Name, double Value)> bars, int width = 800, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        var barPlot = plot.Add.Bars(bars.Select(b => b.Value).ToArray());
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray(), bars.Select(b => b.Name).ToArray());
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.Axes.Margins(bottom: 0);
        plot.SavePng(path, width, height);
    }
}
