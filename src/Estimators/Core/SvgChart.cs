using System.Globalization;
using System.Net;
using System.Text;

namespace MLNetExt;

/// <summary>
/// Small SVG charts for the reports the package writes (bar charts and heat maps). SVG is text: it needs no native
/// graphics library, opens in every browser and renders inside Markdown and HTML reports.
/// </summary>
public static class SvgChart
{
    private const int Margin = 60;

    /// <summary>Writes a vertical bar chart of <paramref name="values"/> labelled by <paramref name="labels"/> to <paramref name="path"/>.</summary>
    /// <param name="path">Output file (usually <c>.svg</c>).</param>
    /// <param name="title">Chart title.</param>
    /// <param name="yLabel">Y-axis caption.</param>
    /// <param name="labels">One label per bar.</param>
    /// <param name="values">One value per bar; NaN bars are left empty.</param>
    /// <param name="yMax">Top of the y axis; the largest value when null.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    public static void Bars(string path, string title, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values,
        double? yMax = null, int width = 900, int height = 500)
    {
        if (labels.Count != values.Count) throw new ArgumentException($"{labels.Count} labels were given for {values.Count} values.");
        double top = yMax ?? Math.Max(1e-12, values.Where(double.IsFinite).DefaultIfEmpty(1).Max());
        int bottomSpace = 140, plotW = width - 2 * Margin, plotH = height - Margin - bottomSpace;
        var svg = Begin(width, height, title);
        Text(svg, 18, Margin + plotH / 2.0, yLabel, anchor: "middle", rotate: -90);
        for (int t = 0; t <= 4; t++)
        {
            double v = top * t / 4, y = Margin + plotH - plotH * t / 4.0;
            svg.Append(Invariant($"<line x1=\"{Margin}\" y1=\"{y:F1}\" x2=\"{Margin + plotW}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>"));
            Text(svg, Margin - 6, y + 4, v.ToString("G3", CultureInfo.InvariantCulture), anchor: "end");
        }
        double slot = plotW / (double)Math.Max(1, values.Count);
        for (int i = 0; i < values.Count; i++)
        {
            double x = Margin + i * slot;
            if (double.IsFinite(values[i]))
            {
                double h = plotH * Math.Clamp(values[i] / top, 0, 1);
                svg.Append(Invariant($"<rect x=\"{x + slot * 0.15:F1}\" y=\"{Margin + plotH - h:F1}\" width=\"{slot * 0.7:F1}\" height=\"{h:F1}\" fill=\"#4477aa\"><title>{Escape(labels[i])}: {values[i]:G4}</title></rect>"));
            }
            Text(svg, x + slot / 2, Margin + plotH + 14, labels[i], anchor: "start", rotate: 30);
        }
        svg.Append(Invariant($"<line x1=\"{Margin}\" y1=\"{Margin + plotH}\" x2=\"{Margin + plotW}\" y2=\"{Margin + plotH}\" stroke=\"#333\"/>"));
        End(svg, path);
    }

    /// <summary>
    /// Writes a heat map of <paramref name="values"/> (rows × columns, row 0 drawn at the top) to <paramref name="path"/>,
    /// with each cell's value printed in it so the picture reads without a colour scale.
    /// </summary>
    /// <param name="path">Output file (usually <c>.svg</c>).</param>
    /// <param name="title">Chart title.</param>
    /// <param name="rowLabels">One label per row.</param>
    /// <param name="columnLabels">One label per column.</param>
    /// <param name="values">Cell values; colours run blue (most negative) through white (0) to red (most positive).</param>
    /// <param name="format">Number format of the printed values.</param>
    public static void Heatmap(string path, string title, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels,
        double[,] values, string format = "+0.000;-0.000;0")
    {
        int rows = values.GetLength(0), cols = values.GetLength(1);
        if (rowLabels.Count != rows || columnLabels.Count != cols)
            throw new ArgumentException($"The heat map has {rows}×{cols} cells but {rowLabels.Count} row and {columnLabels.Count} column labels.");
        const int cellW = 110, cellH = 36, left = 90, bottomSpace = 150;
        int width = left + cols * cellW + Margin, height = Margin + rows * cellH + bottomSpace;
        double scale = 1e-12;
        foreach (var v in values) if (double.IsFinite(v)) scale = Math.Max(scale, Math.Abs(v));
        var svg = Begin(width, height, title);
        for (int r = 0; r < rows; r++)
        {
            Text(svg, left - 6, Margin + r * cellH + cellH / 2.0 + 4, rowLabels[r], anchor: "end");
            for (int c = 0; c < cols; c++)
            {
                double v = values[r, c], t = double.IsFinite(v) ? Math.Clamp(v / scale, -1, 1) : 0;
                int shade = (int)Math.Round(255 * (1 - Math.Abs(t)));
                string fill = !double.IsFinite(v) ? "#bbbbbb" : t >= 0 ? $"rgb(255,{shade},{shade})" : $"rgb({shade},{shade},255)";
                double x = left + c * cellW, y = Margin + r * cellH;
                svg.Append(Invariant($"<rect x=\"{x}\" y=\"{y}\" width=\"{cellW}\" height=\"{cellH}\" fill=\"{fill}\" stroke=\"#fff\"/>"));
                Text(svg, x + cellW / 2.0, y + cellH / 2.0 + 4, double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "—", anchor: "middle");
            }
        }
        for (int c = 0; c < cols; c++) Text(svg, left + c * cellW + cellW / 2.0, Margin + rows * cellH + 14, columnLabels[c], anchor: "start", rotate: 35);
        End(svg, path);
    }

    private static StringBuilder Begin(int width, int height, string title)
    {
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        svg.Append(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>"));
        svg.Append(Invariant($"<text x=\"{width / 2}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{Escape(title)}</text>"));
        return svg;
    }

    private static void Text(StringBuilder svg, double x, double y, string text, string anchor, double rotate = 0)
    {
        string transform = rotate == 0 ? "" : Invariant($" transform=\"rotate({rotate} {x:F1} {y:F1})\"");
        svg.Append(Invariant($"<text x=\"{x:F1}\" y=\"{y:F1}\" text-anchor=\"{anchor}\"{transform}>{Escape(text)}</text>"));
    }

    private static void End(StringBuilder svg, string path)
    {
        svg.Append("</svg>\n");
        var bytes = Encoding.UTF8.GetBytes(svg.ToString());
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
