using System.Text.Json;
using MLNetExt.Bench;

namespace MLNetExt.Tests.Bench;

public class BenchReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnx-bench").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MedianOfOddAndEvenCounts()
    {
        Assert.Equal(3, Measure.Median(new double[] { 5, 1, 3 }));
        Assert.Equal(2.5, Measure.Median(new double[] { 4, 1, 3, 2 }));
        Assert.Throws<ArgumentException>(() => Measure.Median(Array.Empty<double>()));
    }

    [Fact]
    public void WritesJsonAndMarkdownTablesWithTheCommand()
    {
        var report = new BenchReport("demo", "dotnet run --project bench/X");
        report.AddRow("accuracy", new Dictionary<string, object?> { ["model"] = "A", ["acc"] = 0.91234 });
        report.AddRow("accuracy", new Dictionary<string, object?> { ["model"] = "B", ["acc"] = 0.5, ["params"] = 10 });
        report.AddNote("B is the baseline.");
        var (json, md) = report.Write(_dir);
        var text = File.ReadAllText(md);
        Assert.Contains("`dotnet run --project bench/X`", text);
        Assert.Contains("| model | acc | params |", text);
        Assert.Contains("| A | 0.9123 |  |", text);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(10, doc.RootElement.GetProperty("tables").GetProperty("accuracy")[1].GetProperty("params").GetInt32());
    }

    [Fact]
    public void AConfigurationFillsItsOwnSection_AndARerunReplacesOnlyThatSection()
    {
        BenchReport Run(string configuration, double accuracy)
        {
            var r = new BenchReport("demo", $"dotnet run --project bench/X -- {configuration}", configuration);
            r.AddRow("accuracy", new Dictionary<string, object?> { ["model"] = "A", ["acc"] = accuracy });
            r.AddPlot(r.PlotFileName("accuracy"));
            return r;
        }
        Run("small", 0.5).Write(_dir);
        Run("large", 0.7).Write(_dir);
        var (json, md) = Run("small", 0.6).Write(_dir);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var configurations = doc.RootElement.GetProperty("configurations");
        Assert.Equal(new[] { "small", "large" }, configurations.EnumerateObject().Select(c => c.Name));
        Assert.Equal(0.6, configurations.GetProperty("small").GetProperty("tables").GetProperty("accuracy")[0].GetProperty("acc").GetDouble());
        Assert.Equal(0.7, configurations.GetProperty("large").GetProperty("tables").GetProperty("accuracy")[0].GetProperty("acc").GetDouble());
        var text = File.ReadAllText(md);
        Assert.Equal(1, text.Split('\n').Count(l => l == "## small"));
        Assert.Contains("| A | 0.6 |", text);
        Assert.DoesNotContain("| A | 0.5 |", text);
        Assert.Contains("![demo-large-accuracy.png](demo-large-accuracy.png)", text);
        Assert.Contains("[small](#small) · [large](#large)", text);
        // The Markdown is a function of the JSON alone: rendering the file again gives the same text.
        Assert.Equal(text, BenchReport.Markdown((System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!));
    }

    [Fact]
    public void PlotsArePngFiles()
    {
        var lines = Path.Combine(_dir, "l.png");
        var bars = Path.Combine(_dir, "b.png");
        Plots.Lines(lines, "loss", "step", "loss", new[] { ("a", new double[] { 0, 1, 2 }, new double[] { 3, 2, 1 }) });
        Plots.Bars(bars, "acc", "accuracy", new[] { ("x", 0.5), ("y", 0.9) });
        foreach (var p in new[] { lines, bars })
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(p)[..4]);
    }
}
