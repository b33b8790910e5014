using Microsoft.ML;

namespace MLNetExt.Tests.PragWorld;

/// <summary>The evaluator against the PragWorld authors' metric definitions.</summary>
public class AuthorsMetricsTests
{
    private static double Pct(double fraction) => Math.Round(100 * fraction, 2);

    [SharedPragWorldFact]
    public void LlamaAnswersReproduceTheReferenceTableInBothModes()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.PragWorld().LoadCsv(PragWorldSharedData.ManualCsv);
        var replies = File.ReadAllLines(PragWorldSharedData.LlamaAnswers);

        // The authors' script as released: "Perturbation?" compared untrimmed, so "TRUE " rows count as originals.
        var literal = ml.PragWorld().EvaluateReplies(data, replies, new PragWorldEvaluationOptions { PerturbedFlag = PragWorldPerturbedFlag.AuthorsLiteral });
        Assert.Equal(500, literal.Rows.Count);
        Assert.Equal(83.00, Pct(literal.Accuracy));
        Assert.Equal((73.29, 95.07), (Pct(literal.YesAccuracy), Pct(literal.NoAccuracy)));
        Assert.Equal((98, 402), (literal.Rows.Count(r => !r.Perturbed), literal.Rows.Count(r => r.Perturbed)));
        Assert.Equal((84.69, 82.59), (Pct(literal.OriginalAccuracy), Pct(literal.AlteredAccuracy)));
        Assert.Equal((83.45, 81.32), (Pct(literal.FlipAccuracy), Pct(literal.InvariantAccuracy)));
        Assert.Equal((60.20, 98), (Pct(literal.RobustAccuracy), literal.CaseCount));

        var trimmed = ml.PragWorld().EvaluateReplies(data, replies);
        Assert.Equal(83.00, Pct(trimmed.Accuracy));
        Assert.Equal((73.29, 95.07), (Pct(trimmed.YesAccuracy), Pct(trimmed.NoAccuracy)));
        Assert.Equal((88, 412), (trimmed.Rows.Count(r => !r.Perturbed), trimmed.Rows.Count(r => r.Perturbed)));
        Assert.Equal((87.50, 82.04), (Pct(trimmed.OriginalAccuracy), Pct(trimmed.AlteredAccuracy)));
        Assert.Equal((83.45, 81.32), (Pct(trimmed.FlipAccuracy), Pct(trimmed.InvariantAccuracy)));
        Assert.Equal((60.23, 88), (Pct(trimmed.RobustAccuracy), trimmed.CaseCount));

        var perCategory = trimmed.PerAlteration.ToDictionary(a => a.Alteration, a => Pct(a.Accuracy));
        Assert.Equal(new Dictionary<string, double>
        {
            ["VariableSubstitution"] = 81.13, ["Negation"] = 84.51, ["QuantityChange"] = 80.70, ["QuantifierChange"] = 86.15,
            ["VariableSwap"] = 75.95, ["LogicalConnectiveChange"] = 84.62, ["InjectingInconsistentData"] = 90.48,
        }, perCategory);
    }

    [SharedPragWorldFact]
    public void ATextReplyColumnScoresLikeTheRepliesList()
    {
        var ml = new MLContext(seed: 0);
        var rows = PragWorldCsv.Load(PragWorldSharedData.ManualCsv).Rows;
        var replies = File.ReadAllLines(PragWorldSharedData.LlamaAnswers);
        // One reply made unreadable: it must count as wrong, not as "no".
        int spoiled = Enumerable.Range(0, rows.Count).First(i => rows[i].GoldAnswer() == PragWorldAnswer.No && replies[i] == "no");
        var scored = ml.Data.LoadFromEnumerable(rows.Select((r, i) => new RowWithReply(r, i == spoiled ? "I am not sure" : replies[i])));
        var m = ml.PragWorld().Evaluate(scored, new PragWorldEvaluationOptions { PredictionColumnName = nameof(RowWithReply.Reply) });
        Assert.Equal(414, m.Rows.Count(r => r.Correct)); // 415 right in the released answers, one spoiled
        Assert.Equal(PragWorldAnswer.Invalid, m.Rows[spoiled].Response);
    }

    private sealed class RowWithReply
    {
        public RowWithReply() { }

        public RowWithReply(PragWorldQuestionRow row, string reply)
        {
            (QuestionId, QuestionType, Alteration, AlterationEffect, Label, Answer, SourcePerturbationCell, Reply) =
                (row.QuestionId, row.QuestionType, row.Alteration, row.AlterationEffect, row.Label, row.Answer, row.SourcePerturbationCell, reply);
        }

        public string QuestionId { get; set; } = "";
        public string QuestionType { get; set; } = "";
        public string Alteration { get; set; } = "";
        public string AlterationEffect { get; set; } = "";
        public bool Label { get; set; }
        public string Answer { get; set; } = "";
        public string SourcePerturbationCell { get; set; } = "";
        public string Reply { get; set; } = "";
    }

    [Theory]
    [InlineData("yes", PragWorldAnswer.Yes)]
    [InlineData("(yes)", PragWorldAnswer.Yes)]
    [InlineData("No) because Bob said so", PragWorldAnswer.No)]
    [InlineData("  Yes, the keys are there.\nMore text", PragWorldAnswer.Yes)]
    [InlineData("no.", PragWorldAnswer.No)]
    [InlineData("Maybe", PragWorldAnswer.Invalid)]
    [InlineData("", PragWorldAnswer.Invalid)]
    [InlineData("cannot answer", PragWorldAnswer.Invalid)]
    [InlineData("yesterday I saw", PragWorldAnswer.Invalid)]
    public void RepliesAreReadLikeTheAuthorsScript(string reply, PragWorldAnswer expected) =>
        Assert.Equal(expected, PragWorldAnswers.ParseReply(reply));

    [Fact]
    public void CannotAnswerIsNoForTheAuthorsAndAClassOnRequest()
    {
        Assert.Equal(PragWorldAnswer.CannotAnswer, PragWorldAnswers.ParseReply("(cannot answer) the conversation does not say", acceptCannotAnswer: true));
        var ml = new MLContext(seed: 0);
        const string csv =
            "Seed Index,Local Context,Question,Answer,Perturbation?,Perturbation Target,Perturbation Category,Perturbation Effect,Utterance Index,Old Word,New Word\n" +
            "0,\"1: A: hi\n2: B: Emma put them in the pantry\",did Emma put them in the pantry?,yes,FALSE,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable,Not applicable\n" +
            "0,\"1: A: hi\n2: B: Owen put them in the pantry\",did Emma put them in the pantry?,cannot answer,TRUE,Context,Variable Swap: agent,Possible,2,Emma,Owen\n" +
            "0,\"1: A: hi\n2: B: Emma put them in the garage\",did Emma put them in the pantry?,no,TRUE,Context,Variable Substitution: location,Flip,2,pantry,garage\n";
        var data = ml.Data.LoadFromEnumerable(PragWorldCsv.Read(new StringReader(csv), "s.csv").Rows);
        string[] replies = ["yes", "no", "cannot answer"];

        var authors = ml.PragWorld().EvaluateReplies(data, replies);
        Assert.Equal([true, true, false], authors.Rows.Select(r => r.Correct)); // gold "cannot answer" scored as "no"; the reply is invalid
        Assert.Equal(2 / 3.0, authors.Accuracy, 6);
        Assert.Equal(0.5, authors.NoAccuracy, 6);
        Assert.True(double.IsNaN(authors.CannotAnswerAccuracy));

        var threeClass = ml.PragWorld().EvaluateReplies(data, replies, new PragWorldEvaluationOptions { CannotAnswerAsClass = true });
        Assert.Equal([true, false, false], threeClass.Rows.Select(r => r.Correct));
        Assert.Equal(0.0, threeClass.CannotAnswerAccuracy, 6);
        var swapped = ml.PragWorld().EvaluateReplies(data, ["yes", "cannot answer", "no"], new PragWorldEvaluationOptions { CannotAnswerAsClass = true });
        Assert.Equal((1.0, 1.0, 1.0), (swapped.Accuracy, swapped.CannotAnswerAccuracy, swapped.RobustAccuracy));

        var e = Assert.Throws<ArgumentException>(() => ml.PragWorld().EvaluateReplies(data, ["yes", "no"]));
        Assert.Contains("2 replies", e.Message);
    }
}
