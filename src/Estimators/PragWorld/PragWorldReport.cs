using System.Globalization;
using System.Net;
using System.Text;

namespace MLNetExt;

/// <summary>Writes <see cref="PragWorldMetrics"/> as Markdown, HTML and a bar chart (accuracy: original vs each alteration).</summary>
public static class PragWorldReport
{
    /// <summary>The report's tables: (heading or null for the summary, header cells, rows).</summary>
    private static IEnumerable<(string? Heading, string[] Header, List<string[]> Rows)> Tables(PragWorldMetrics m)
    {
        yield return (null, ["Metric", "Value"],
        [
            ["Original questions", m.Rows.Count(r => r.Alteration == "Original").ToString(CultureInfo.InvariantCulture)],
            ["Altered rows", m.Rows.Count(r => r.Alteration != "Original").ToString(CultureInfo.InvariantCulture)],
            ["Original accuracy", Percent(m.OriginalAccuracy)],
            ["Altered accuracy", Percent(m.AlteredAccuracy)],
            ["Flip accuracy", Percent(m.FlipAccuracy)],
            ["Invariant accuracy", Percent(m.InvariantAccuracy)],
            ["Robust accuracy", Percent(m.RobustAccuracy)],
            ["Consistency", Percent(m.Consistency)],
            ["Yes / no accuracy", $"{Percent(m.YesAccuracy)} / {Percent(m.NoAccuracy)}"],
        ]);
        yield return ("Per alteration", ["Alteration", "Rows", "Flips", "Accuracy", "Original accuracy (same questions)", "Drop (points)", "Consistency"],
            m.PerAlteration.Select(a => new[]
            {
                a.Alteration, a.Count.ToString(CultureInfo.InvariantCulture), a.FlipCount.ToString(CultureInfo.InvariantCulture),
                Percent(a.Accuracy), Percent(a.OriginalAccuracy), Points(a.Drop), Percent(a.Consistency),
            }).ToList());
        yield return ("Per question type", ["Question type", "Original rows", "Altered rows", "Original accuracy", "Altered accuracy", "Drop (points)"],
            m.PerQuestionType.Select(t => new[]
            {
                t.QuestionType, t.OriginalCount.ToString(CultureInfo.InvariantCulture), t.AlteredCount.ToString(CultureInfo.InvariantCulture),
                Percent(t.OriginalAccuracy), Percent(t.AlteredAccuracy), Points(t.Drop),
            }).ToList());
    }

    /// <summary>The Markdown report text.</summary>
    public static string ToMarkdown(PragWorldMetrics metrics, string title, string? chartFileName = null)
    {
        var sb = new StringBuilder().Append("# ").AppendLine(title).AppendLine();
        foreach (var (heading, header, rows) in Tables(metrics))
        {
            if (heading is not null) sb.Append("## ").AppendLine(heading).AppendLine();
            sb.Append("| ").AppendJoin(" | ", header).AppendLine(" |");
            sb.Append('|').AppendJoin("", header.Select(_ => "---|")).AppendLine();
            foreach (var row in rows) sb.Append("| ").AppendJoin(" | ", row).AppendLine(" |");
            sb.AppendLine();
        }
        if (chartFileName is not null) sb.Append("![Accuracy per alteration](").Append(chartFileName).AppendLine(")");
        return sb.ToString();
    }

    /// <summary>The HTML report text (self-contained page; the chart is referenced by file name).</summary>
    public static string ToHtml(PragWorldMetrics metrics, string title, string? chartFileName = null)
    {
        var sb = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
            .Append(WebUtility.HtmlEncode(title))
            .AppendLine("</title><style>table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #999;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>")
            .Append("<h1>").Append(WebUtility.HtmlEncode(title)).AppendLine("</h1>");
        foreach (var (heading, header, rows) in Tables(metrics))
        {
            if (heading is not null) sb.Append("<h2>").Append(WebUtility.HtmlEncode(heading)).AppendLine("</h2>");
            sb.Append("<table><tr>").AppendJoin("", header.Select(h => $"<th>{WebUtility.HtmlEncode(h)}</th>")).AppendLine("</tr>");
            foreach (var row in rows) sb.Append("<tr>").AppendJoin("", row.Select(c => $"<td>{WebUtility.HtmlEncode(c)}</td>")).AppendLine("</tr>");
            sb.AppendLine("</table>");
        }
        if (chartFileName is not null) sb.Append("<img src=\"").Append(WebUtility.HtmlEncode(chartFileName)).AppendLine("\" alt=\"Accuracy per alteration\">");
        return sb.AppendLine("</body></html>").ToString();
    }

    /// <summary>
    /// Writes <c>{baseName}.md</c>, <c>{baseName}.html</c> and <c>{baseName}.svg</c> (bar chart) into
    /// <paramref name="directory"/> and returns the three paths.
    /// </summary>
    public static (string Markdown, string Html, string Chart) Write(PragWorldMetrics metrics, string directory, string baseName, string title)
    {
        Directory.CreateDirectory(directory);
        var chart = Path.Combine(directory, baseName + ".svg");
        WriteBarChart(metrics, chart, title);
        var markdown = Path.Combine(directory, baseName + ".md");
        File.WriteAllText(markdown, ToMarkdown(metrics, title, Path.GetFileName(chart)));
        var html = Path.Combine(directory, baseName + ".html");
        File.WriteAllText(html, ToHtml(metrics, title, Path.GetFileName(chart)));
        return (markdown, html, chart);
    }

    /// <summary>Bar chart (SVG): accuracy (%) on the originals and under each alteration.</summary>
    public static void WriteBarChart(PragWorldMetrics metrics, string path, string title, int width = 900, int height = 500)
    {
        var labels = new[] { "Original" }.Concat(metrics.PerAlteration.Select(a => a.Alteration)).ToArray();
        var values = new[] { metrics.OriginalAccuracy }.Concat(metrics.PerAlteration.Select(a => a.Accuracy)).Select(v => 100 * v).ToArray();
        SvgChart.Bars(path, title, "Accuracy (%)", labels, values, yMax: 100, width, height);
    }

    private static string Percent(double fraction) =>
        double.IsNaN(fraction) ? "—" : (100 * fraction).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static string Points(double fraction) =>
        double.IsNaN(fraction) ? "—" : (100 * fraction).ToString("F1", CultureInfo.InvariantCulture);
}
