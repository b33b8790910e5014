using Microsoft.ML;
using MLNetExt.Bench;
using MLNetExt;

/// <summary>
/// The seven alterations applied to the 88 original conversations of the PragWorld authors' manual benchmark:
/// how often each applies where the authors applied it, and sample edits beside the authors' edits of the same
/// conversation. Writes docs/benchmarks/pragworld-real-alterations.{json,md,png}.
/// </summary>
internal static class RealAlterations
{
    public static void Run(string csvPath, int seed, int examplesPerCategory, string command)
    {
        var report = new BenchReport("pragworld-real-alterations", command);
        var data = PragWorldCsv.Load(csvPath);
        report.AddNote($"Data: {Path.GetFileName(csvPath)} — {data.Report}.");
        var groups = data.Rows.GroupBy(r => r.QuestionId).Select(g => (Original: g.First(), Altered: g.Skip(1).ToList())).ToList();
        var options = new PragWorldAlterationOptions { Seed = seed, KeepNotApplicable = true };
        var lexicon = FreeFormLexicon.Default;
        report.AddNote($"Free-form lexicon: WordNet {(lexicon.WordNet is null ? "absent (lexicon objects and places only)" : "3.0 from " + WordNetDictionary.DefaultDirectory)}; alteration seed {seed}.");

        var labels = new List<string>();
        var rates = new List<double>();
        var random = new Random(seed);
        foreach (var kind in Enum.GetValues<AlterationKind>())
        {
            var alteration = PragWorldTransformsCatalog.Create(kind);
            var results = groups.Select(g => (g.Original, g.Altered, Ours: alteration.Apply(g.Original, options))).ToList();
            bool Applied(PragWorldQuestionRow r) => r.AlterationEffect != AlterationEffects.NotApplicable;
            var authorsGroups = results.Where(r => r.Altered.Any(a => a.Alteration == kind.ToString())).ToList();
            int appliedWhereAuthors = authorsGroups.Count(r => Applied(r.Ours));
            double rate = authorsGroups.Count == 0 ? double.NaN : appliedWhereAuthors / (double)authorsGroups.Count;
            report.AddRow("Application on the 88 real originals", new Dictionary<string, object?>
            {
                ["alteration"] = PragWorldCsv.AuthorsName(kind),
                ["conversations the authors altered"] = authorsGroups.Count,
                ["of these, ours applies"] = appliedWhereAuthors,
                ["rate (%)"] = 100 * rate,
                ["applies on all 88"] = results.Count(r => Applied(r.Ours)),
                ["effect Flip / Invariant / Unknown"] = $"{results.Count(r => r.Ours.AlterationEffect == AlterationEffects.Flip)} / " +
                    $"{results.Count(r => r.Ours.AlterationEffect == AlterationEffects.Invariant)} / {results.Count(r => r.Ours.AlterationEffect == AlterationEffects.Unknown)}",
            });
            labels.Add(PragWorldCsv.AuthorsName(kind));
            rates.Add(100 * rate);

            var sample = authorsGroups.Where(r => Applied(r.Ours)).OrderBy(_ => random.Next()).Take(examplesPerCategory).OrderBy(r => r.Original.SourceLine);
            foreach (var (original, altered, ours) in sample)
            {
                var authors = altered.First(a => a.Alteration == kind.ToString());
                report.AddRow($"Edits: {PragWorldCsv.AuthorsName(kind)}", new Dictionary<string, object?>
                {
                    ["line"] = original.SourceLine,
                    ["ours (turn: old → new)"] = Cell($"{Where(ours)}: '{ours.AlterationOldWord}' → '{ours.AlterationNewWord}' [{ours.AlterationEffect}]"),
                    ["authors' (turn: old → new)"] = Cell(Diff(original, authors) + $" [{authors.AlterationEffect}]"),
                });
            }
        }

        var outDir = BenchReport.DefaultDirectory();
        var plot = new ScottPlot.Plot();
        plot.Add.Bars(rates.Select(r => double.IsNaN(r) ? 0 : r).ToArray());
        var target = plot.Add.HorizontalLine(80);
        target.LinePattern = ScottPlot.LinePattern.Dashed;
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, labels.Count).Select(i => (double)i).ToArray(), labels.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 150;
        plot.Axes.SetLimitsY(0, 105);
        plot.YLabel("Applies where the authors applied it (%)");
        plot.Title("PragWorld alterations on the 88 real originals (dashed: 80 % target)");
        plot.SavePng(Path.Combine(outDir, "pragworld-real-alterations.png"), 900, 500);
        report.AddPlot("pragworld-real-alterations.png");
        report.AddNote("Our edit is made on the original row; the authors' edit is the first of their altered rows of that category in the same group, shown as a word diff against the original.");
        report.AddNote("Effect Unknown: the project's interpreter does not understand the conversation, so the label is not recomputed (the row keeps the original's label and is left out of evaluation).");
        var (json, md) = report.Write(outDir);
        Console.WriteLine($"wrote {json}, {md}");
        foreach (var (label, rate) in labels.Zip(rates)) Console.WriteLine($"{label,-28} {rate,6:F1} %");
    }

    private static string Where(PragWorldQuestionRow row) =>
        row.AlterationTarget == "Question" ? "question" : row.AlterationUtteranceIndex.StartsWith("swapped", StringComparison.Ordinal) ? row.AlterationUtteranceIndex : $"turn {row.AlterationUtteranceIndex}";

    /// <summary>The authors' edit as "turn N: 'old' → 'new'" (word-level common prefix/suffix per changed turn or the question).</summary>
    private static string Diff(PragWorldQuestionRow original, PragWorldQuestionRow altered)
    {
        var parts = new List<string>();
        if (original.Question != altered.Question) parts.Add("question: " + WordDiff(original.Question, altered.Question));
        var a = original.Conversation.Split('\n');
        var b = altered.Conversation.Split('\n');
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var x = i < a.Length ? a[i] : "";
            var y = i < b.Length ? b[i] : "";
            if (x != y) parts.Add($"turn {i + 1}: " + WordDiff(x, y));
        }
        return parts.Count == 0 ? "(no textual change)" : string.Join("; ", parts);
    }

    private static string WordDiff(string x, string y)
    {
        var a = x.Split(' ');
        var b = y.Split(' ');
        int prefix = 0;
        while (prefix < a.Length && prefix < b.Length && a[prefix] == b[prefix]) prefix++;
        int suffix = 0;
        while (suffix < a.Length - prefix && suffix < b.Length - prefix && a[^(suffix + 1)] == b[^(suffix + 1)]) suffix++;
        return $"'{string.Join(' ', a[prefix..(a.Length - suffix)])}' → '{string.Join(' ', b[prefix..(b.Length - suffix)])}'";
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " / ", StringComparison.Ordinal);
}
