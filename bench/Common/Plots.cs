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

    /// <summary>A heat map (row 0 at the top) with each cell's value printed in it, saved to <paramref name="path"/>.</summary>
    public static void Heatmap(string path, string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, double[,] values, int width = 1000, int height = 600)
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        var plot = new ScottPlot.Plot();
        var heat = plot.Add.Heatmap(values);
        heat.Colormap = new ScottPlot.Colormaps.MellowRainbow();
        plot.Add.ColorBar(heat);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, cols).Select(i => (double)i).ToArray(), columnLabels.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 35;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 150;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)   // the value in each cell, so the picture reads without the colour bar
                plot.Add.Text($"{values[r, c]:+0.000;-0.000;0}", c, rows - 1 - r).LabelAlignment = ScottPlot.Alignment.MiddleCenter;
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(i => (double)i).ToArray(), Enumerable.Range(0, rows).Select(i => rowLabels[rows - 1 - i]).ToArray());
        plot.Title(title);
        plot.SavePng(path, width, height);
    }
}
