using Microsoft.ML;
using MLNetExt.Tests.Circuits;

namespace MLNetExt.Tests.PragWorld;

/// <summary>Where the PragWorld authors' manual benchmark is (the shared data folder; may be absent).</summary>
public static class PragWorldSharedData
{
    /// <summary>The pragworld folder next to the circuits one.</summary>
    public static string Folder => Path.Combine(Path.GetDirectoryName(SharedData.Circuits)!, "pragworld");

    /// <summary>The manual CSV.</summary>
    public static string ManualCsv => Path.Combine(Folder, "Manual_Dataset_500.csv");

    /// <summary>The released Llama-3.1-70B-Instruct answers, one per CSV row.</summary>
    public static string LlamaAnswers => Path.Combine(Folder, "predictions", "llama-3.1-70b-instruct.txt");

    /// <summary>Null when the data is there, else the skip reason.</summary>
    public static string? Missing => File.Exists(ManualCsv) && File.Exists(LlamaAnswers)
        ? null : $"PragWorld shared data not found at {Folder} (Manual_Dataset_500.csv and predictions/): it exists beside the project on development machines and in CI only.";
}

/// <summary>A fact that needs the PragWorld authors' manual benchmark; skipped with the reason when it is absent.</summary>
public sealed class SharedPragWorldFactAttribute : FactAttribute
{
    /// <summary>Sets Skip when the data is missing.</summary>
    public SharedPragWorldFactAttribute()
    {
        if (PragWorldSharedData.Missing is { } reason) Skip = reason;
    }
}

public class CsvLoaderTests
{
    private const string ManualHeader = "Local Context,Question,Answer,Perturbation?,Perturbation Target,Perturbation Category,Perturbation Effect\n";

    private static PragWorldCsvData Read(string text, PragWorldCsvOptions? options = null) =>
        PragWorldCsv.Read(new StringReader(text), "test.csv", options);

    private static PragWorldCsvFormatException Fails(string text, PragWorldCsvOptions? options = null) =>
        Assert.Throws<PragWorldCsvFormatException>(() => Read(text, options));

    [SharedPragWorldFact]
    public void TheAuthorsManualFileLoadsWithEveryRepairCounted()
    {
        var data = PragWorldCsv.Load(PragWorldSharedData.ManualCsv);
        var report = data.Report;

        Assert.Equal(PragWorldCsvLayout.Manual, report.Layout);
        Assert.Equal(500, report.Rows);
        Assert.Equal(88, report.Groups);
        Assert.Equal(88, data.Rows.Count(r => r.Alteration == PragWorldQuestionRow.OriginalAlteration));
        Assert.Equal(88, data.Rows.Select(r => r.QuestionId).Distinct().Count());
        Assert.Equal(277, data.Rows.Count(r => r.Label));
        // Counts established independently from the file (see the data README's list of quirks).
        var counts = report.RepairCounts;
        Assert.Equal(85, counts[PragWorldCsvRepairKind.TrimmedCell]);  // 21 flags, 10 contexts, 54 categories
        Assert.Equal(77, counts[PragWorldCsvRepairKind.CategorySpelling]);
        Assert.Equal(273, counts[PragWorldCsvRepairKind.EffectSpelling]);
        Assert.Equal(87, counts[PragWorldCsvRepairKind.WrappedLineJoined]);
        Assert.Equal(6, counts[PragWorldCsvRepairKind.StrayQuoteRemoved]);
        Assert.Equal(20, counts[PragWorldCsvRepairKind.DoubledSpeakerColon]);
        Assert.Equal(122, counts[PragWorldCsvRepairKind.TrimmedTurn]);
        Assert.Equal(4, report.Warnings.Count); // rows tagged Flip whose answer equals the original's

        var perKind = data.Rows.Where(r => r.Alteration != PragWorldQuestionRow.OriginalAlteration)
            .GroupBy(r => r.Alteration).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(106, perKind[nameof(AlterationKind.VariableSubstitution)]);
        Assert.Equal(65, perKind[nameof(AlterationKind.QuantifierChange)]);
        Assert.Equal(13, perKind[nameof(AlterationKind.LogicalConnectiveChange)]);
        Assert.Equal(21, perKind[nameof(AlterationKind.InjectingInconsistentData)]);
        Assert.Equal(412, perKind.Values.Sum());
        Assert.Equal(139, data.Rows.Count(r => r.AlterationEffect == AlterationEffects.Flip));
        Assert.Equal(273, data.Rows.Count(r => r.AlterationEffect == AlterationEffects.Invariant));

        // Every conversation now parses into "Speaker: text" turns: wrapped lines joined, quotes and doubled colons gone.
        foreach (var row in data.Rows) Assert.NotEmpty(ConversationText.Parse(row.Conversation));
        var wrapped = data.Rows[66].Conversation.Split('\n')[19];
        Assert.Equal("Bob: Nathan said he left the lime in the garden and journeyed to the garden", wrapped);
        Assert.StartsWith("A: Excuse me. I'd like to find out about flights to", data.Rows[301].Conversation);
        Assert.StartsWith("A: Doctor! Doctor!", data.Rows[345].Conversation);
        Assert.EndsWith("B: Bye! And take care.", data.Rows[345].Conversation);
        Assert.Equal("TRUE ", data.Rows.First(r => r.SourcePerturbationCell.EndsWith(' ') && r.SourcePerturbationCell.StartsWith('T')).SourcePerturbationCell);
        Assert.Equal(2, data.Rows[0].SourceLine);
    }

    [SharedPragWorldFact]
    public void StrictModeRefusesTheRealFileAtItsFirstQuirk()
    {
        var e = Assert.Throws<PragWorldCsvFormatException>(() => PragWorldCsv.Load(PragWorldSharedData.ManualCsv, new PragWorldCsvOptions { Strict = true }));
        Assert.Equal("Manual_Dataset_500.csv", e.FileName);
        Assert.Contains("strict mode refuses", e.Message);
        Assert.True(e.LineNumber > 1);
    }

    [Fact]
    public void TheDataCatalogLoadsRowsAndReports()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pragworld-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, ManualHeader +
            "\"Alice: where are the keys\nBob: I put them in the\ngarage\",are the keys in the garage?,Yes,FALSE,None,-,-\n" +
            "\"Alice: where are the keys\nBob: I didn't put them in the garage\",are the keys in the garage?,No,TRUE ,Context,Negation,Flip\n");
        try
        {
            var ml = new MLContext(seed: 0);
            var view = ml.PragWorld().LoadCsv(path, null, out var report);
            var rows = ml.Data.CreateEnumerable<PragWorldQuestionRow>(view, reuseRowObject: false).ToList();
            Assert.Equal(2, rows.Count);
            Assert.Equal("Alice: where are the keys\nBob: I put them in the garage", rows[0].Conversation);
            Assert.Equal(("Negation", "Context", "Flip", false, "no"), (rows[1].Alteration, rows[1].AlterationTarget, rows[1].AlterationEffect, rows[1].Label, rows[1].Answer));
            Assert.Equal(rows[0].QuestionId, rows[1].QuestionId);
            Assert.Equal(1, report.Groups);
            Assert.Equal(new Dictionary<PragWorldCsvRepairKind, int> { [PragWorldCsvRepairKind.TrimmedCell] = 1, [PragWorldCsvRepairKind.WrappedLineJoined] = 1 }, report.RepairCounts);
            Assert.Equal(6, report.Repairs.Single(r => r.Kind == PragWorldCsvRepairKind.TrimmedCell).Line);
            Assert.Equal(4, report.Repairs.Single(r => r.Kind == PragWorldCsvRepairKind.WrappedLineJoined).Line);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TheSyntheticLayoutReadsNumberedTurnsCannotAnswerAndEditRecords()
    {
        const string csv =
            "Seed Index,Local Context,Question,Answer,Perturbation?,Perturbation Target,Perturbation Category,Perturbation Effect,Utterance Index,Old Word,New Word\n" +
            "0,\"1: Alice: Did you see the grapes?\n2: Bob: Elizabeth put them in the pantry.\",Did Elizabeth put the grapes in the pantry?,yes,FALSE,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable\n" +
            "0,\"1: Alice: Did you see the grapes?\n2: Bob: Owen put them in the pantry.\",Did Elizabeth put the grapes in the pantry?,cannot answer,TRUE,Context,Variable Swap: agent,Possible,swapped between indexes 2 and 4,Elizabeth,Owen\n" +
            "1,\"1: A: hello\n2: B: I have two cats\",does B have two cats?,yes,FALSE,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable\n" +
            "1,\"1: A: hello\n2: B: I have three cats\",does B have two cats?,no,TRUE,Context,Quanity Change,Flip,2,two,three\n";
        var data = Read(csv);
        Assert.Equal(PragWorldCsvLayout.Synthetic, data.Report.Layout);
        Assert.Equal((4, 2), (data.Report.Rows, data.Report.Groups));
        var swap = data.Rows[1];
        Assert.Equal("Alice: Did you see the grapes?\nBob: Owen put them in the pantry.", swap.Conversation);
        Assert.Equal(("cannot answer", false, PragWorldAnswer.CannotAnswer), (swap.Answer, swap.Label, swap.GoldAnswer()));
        Assert.Equal(("VariableSwap", "agent", "Possible"), (swap.Alteration, swap.AlterationDetail, swap.AlterationEffect));
        Assert.Equal(("swapped between indexes 2 and 4", "Elizabeth", "Owen"), (swap.AlterationUtteranceIndex, swap.AlterationOldWord, swap.AlterationNewWord));
        Assert.Equal(("QuantityChange", "2", "two", "three"), (data.Rows[3].Alteration, data.Rows[3].AlterationUtteranceIndex, data.Rows[3].AlterationOldWord, data.Rows[3].AlterationNewWord));
        Assert.NotEqual(data.Rows[1].QuestionId, data.Rows[3].QuestionId);
        Assert.Equal(data.Rows[2].QuestionId, data.Rows[3].QuestionId);
        Assert.Equal("", data.Rows[0].AlterationOldWord);
        Assert.Equal(PragWorldCsvRepairKind.CategorySpelling, data.Report.Repairs.Single().Kind);
    }

    [Fact]
    public void MalformedFilesFailWithLineAndColumn()
    {
        var unclosed = Fails(ManualHeader + "\"Alice: hi\nBob: hello,are you there?,Yes,FALSE,None,-,-\n");
        Assert.Equal((2, 1), (unclosed.LineNumber, unclosed.ColumnNumber));
        Assert.Contains("never closed", unclosed.Message);
        Assert.StartsWith("test.csv:2:1:", unclosed.Message);

        var strayQuote = Fails(ManualHeader + "Alice: hi,are \"you\" there?,Yes,FALSE,None,-,-\n");
        Assert.Equal((2, 15), (strayQuote.LineNumber, strayQuote.ColumnNumber));

        var afterQuote = Fails(ManualHeader + "\"Alice: hi\"x,q?,Yes,FALSE,None,-,-\n");
        Assert.Contains("after the closing quote", afterQuote.Message);
        Assert.Equal((2, 12), (afterQuote.LineNumber, afterQuote.ColumnNumber));

        var fields = Fails(ManualHeader + "Alice: hi,q?,Yes,FALSE,None,-\n");
        Assert.Contains("6 fields, the header has 7", fields.Message);

        var answer = Fails(ManualHeader + "Alice: hi,q?,Maybe,FALSE,None,-,-\n");
        Assert.Equal(("Answer", 2, 14), (answer.ColumnName, answer.LineNumber, answer.ColumnNumber));

        var category = Fails(ManualHeader + "Alice: hi,q?,Yes,FALSE,None,-,-\nAlice: ho,q?,Yes,TRUE,Context,Paraphrase,Flip\n");
        Assert.Equal(("Perturbation Category", 3), (category.ColumnName, category.LineNumber));
        Assert.Contains("'Paraphrase' is none of the seven alterations", category.Message);

        var flag = Fails(ManualHeader + "Alice: hi,q?,Yes,maybe,None,-,-\n");
        Assert.Equal("Perturbation?", flag.ColumnName);

        var orphan = Fails(ManualHeader + "Alice: hi,q?,Yes,TRUE,Context,Negation,Flip\n");
        Assert.Contains("each group must start with its original", orphan.Message);

        var header = Fails("Context,Question,Answer\n");
        Assert.Equal(("Local Context", 1), (header.ColumnName, header.LineNumber));

        var firstLine = Fails(ManualHeader + "\"hello there\nBob: hi\",q?,Yes,FALSE,None,-,-\n");
        Assert.Contains("first line has no 'Speaker:' prefix", firstLine.Message);

        Assert.Contains("empty", Fails("").Message);
    }

    [Fact]
    public void StrictModeNamesTheCellItWouldHaveRepaired()
    {
        const string csv = ManualHeader + "Alice: hi,q?,Yes,FALSE,None,-,-\nAlice: ho,q?,No,TRUE,Context,Negation,Invarianat\n";
        Assert.Equal(AlterationEffects.Invariant, Read(csv).Rows[1].AlterationEffect);
        var e = Fails(csv, new PragWorldCsvOptions { Strict = true });
        Assert.Equal(("Perturbation Effect", 3, 39), (e.ColumnName, e.LineNumber, e.ColumnNumber));
        Assert.Contains("EffectSpelling", e.Message);
    }

    [Fact]
    public void CategorySpellingsFoldOntoTheSevenAlterations()
    {
        Assert.Equal((AlterationKind.InjectingInconsistentData, ""), PragWorldCsv.ParseCategory("Injecting inconsistent \nData"));
        Assert.Equal((AlterationKind.QuantityChange, ""), PragWorldCsv.ParseCategory("Quanity Change"));
        Assert.Equal((AlterationKind.VariableSubstitution, "location"), PragWorldCsv.ParseCategory("Variablle Substituion: location"));
        Assert.Equal((AlterationKind.LogicalConnectiveChange, ""), PragWorldCsv.ParseCategory("Logical Connective\nChange"));
        Assert.Null(PragWorldCsv.ParseCategory("Negations"));
        Assert.Equal("Injecting Inconsistent Data", PragWorldCsv.AuthorsName(AlterationKind.InjectingInconsistentData));
    }

    [Fact]
    public void JsonlQuestionsWithoutTypeOrEntityLoad()
    {
        const string line = """{"id":"c1","template":"t","speakers":["A","B"],"turns":[{"speaker":"A","text":"hi"},{"speaker":"B","text":"I have two cats"}],"questions":[{"text":"does B have two cats?","answer":"yes"}]}""";
        var conversation = PragWorldJsonl.Read(new StringReader(line), "t.jsonl").Single();
        Assert.Null(conversation.Questions[0].Type);
        var row = conversation.ToQuestionRows().Single();
        Assert.Equal(("", "", true), (row.QuestionType, row.Entity, row.Label));
        var writer = new StringWriter();
        PragWorldJsonl.Write(writer, [conversation]);
        Assert.Null(PragWorldJsonl.Read(new StringReader(writer.ToString()), "t.jsonl").Single().Questions[0].Type);
    }
}
