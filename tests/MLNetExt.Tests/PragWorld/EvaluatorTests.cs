using Microsoft.ML;

namespace MLNetExt.Tests.PragWorld;

public class EvaluatorTests
{
    // (question id, type, alteration, effect, gold, the fake model's answer)
    private static readonly (string Id, string Type, string Alteration, string Effect, bool Gold, bool Predicted)[] HandMade =
    [
        ("q1", "Location", "Original", "None", true, true),
        ("q2", "State", "Original", "None", false, false),
        ("q3", "Location", "Original", "None", true, false),
        ("q4", "Implicature", "Original", "None", false, false),
        ("q1", "Location", "Negation", "Flip", false, true),
        ("q2", "State", "Negation", "Flip", true, true),
        ("q3", "Location", "Negation", "Invariant", true, false),
        ("q1", "Location", "VariableSubstitution", "Invariant", true, true),
        ("q4", "Implicature", "VariableSubstitution", "Flip", true, false),
        ("q2", "State", "QuantityChange", "NotApplicable", true, false), // excluded from every metric
    ];

    private sealed class ModelInput
    {
        public string QuestionId { get; set; } = "";
        public string Alteration { get; set; } = "";
    }

    private sealed class BoolOutput
    {
        public bool PredictedLabel { get; set; }
    }

    private sealed class ScoreOutput
    {
        public float Score { get; set; }
    }

    private static IDataView Data(MLContext mlContext) => mlContext.Data.LoadFromEnumerable(HandMade.Select(h => new PragWorldQuestionRow
    {
        ConversationId = h.Id, QuestionId = h.Id, Conversation = "Alice: where are the keys?\nBob: I don't know", Question = $"question {h.Id}",
        Label = h.Gold, QuestionType = h.Type, Alteration = h.Alteration, AlterationEffect = h.Effect,
    }));

    private static bool FakeAnswer(ModelInput input) =>
        HandMade.Single(h => h.Id == input.QuestionId && h.Alteration == input.Alteration).Predicted;

    /// <summary>A model built from ML.NET pieces whose yes/no answers we control.</summary>
    private static ITransformer BooleanModel(MLContext mlContext, IDataView data) =>
        mlContext.Transforms.CustomMapping<ModelInput, BoolOutput>((input, output) => output.PredictedLabel = FakeAnswer(input), contractName: null).Fit(data);

    [Fact]
    public void MetricsOfAHandMadeSetMatchTheHandComputedValues()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Data(mlContext);
        var m = mlContext.PragWorld().Evaluate(BooleanModel(mlContext, data), data);

        Assert.Equal(0.75, m.OriginalAccuracy, 6);
        Assert.Equal(0.40, m.AlteredAccuracy, 6);
        Assert.Equal(1 / 3.0, m.FlipAccuracy, 6);
        Assert.Equal(0.50, m.InvariantAccuracy, 6);
        Assert.Equal(0.25, m.RobustAccuracy, 6);
        Assert.Equal(0.60, m.Consistency, 6);
        Assert.Equal(0.5, m.YesAccuracy, 6);
        Assert.Equal(2 / 3.0, m.NoAccuracy, 6);
        Assert.Equal(9, m.Rows.Count);

        Assert.Equal(["Negation", "VariableSubstitution"], m.PerAlteration.Select(a => a.Alteration));
        var negation = m.PerAlteration[0];
        Assert.Equal((3, 2), (negation.Count, negation.FlipCount));
        Assert.Equal((1 / 3.0, 2 / 3.0, 1 / 3.0, 2 / 3.0), (negation.Accuracy, negation.OriginalAccuracy, negation.Drop, negation.Consistency));
        var substitution = m.PerAlteration[1];
        Assert.Equal((0.5, 1.0, 0.5, 0.5), (substitution.Accuracy, substitution.OriginalAccuracy, substitution.Drop, substitution.Consistency));

        Assert.Equal(["Location", "State", "Implicature"], m.PerQuestionType.Select(t => t.QuestionType));
        Assert.Equal((2, 3, 0.5, 1 / 3.0), (m.PerQuestionType[0].OriginalCount, m.PerQuestionType[0].AlteredCount, m.PerQuestionType[0].OriginalAccuracy, m.PerQuestionType[0].AlteredAccuracy));
        Assert.Equal(1.0, m.PerQuestionType[2].Drop, 6);
    }

    [Fact]
    public void ScoreColumnIsThresholdedAtZeroLikeABinaryClassifierLogit()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Data(mlContext);
        var model = mlContext.Transforms.CustomMapping<ModelInput, ScoreOutput>((input, output) => output.Score = FakeAnswer(input) ? 2.5f : -0.5f, contractName: null).Fit(data);

        var byScore = mlContext.PragWorld().Evaluate(model, data);
        Assert.Equal((0.75, 0.40, 0.25), (byScore.OriginalAccuracy, byScore.AlteredAccuracy, byScore.RobustAccuracy));

        // With a threshold above every score the model always says "no".
        var allNo = mlContext.PragWorld().Evaluate(model, data, new PragWorldEvaluationOptions { Threshold = 3f });
        Assert.All(allNo.Rows, r => Assert.False(r.Predicted));
        Assert.Equal(0.5, allNo.OriginalAccuracy, 6);
    }

    [Fact]
    public void MissingPredictionColumnIsNamed()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Data(mlContext);

        var error = Assert.Throws<ArgumentException>(() => mlContext.PragWorld().Evaluate(data));
        Assert.StartsWith("The scored data has no yes/no prediction column: looked for PredictedLabel, Probability, Score; columns are ConversationId, TemplateId, QuestionId,", error.Message);
    }

    [Fact]
    public void ReportFilesContainTheMeasuredNumbers()
    {
        var mlContext = new MLContext(seed: 1);
        var data = Data(mlContext);
        var metrics = mlContext.PragWorld().Evaluate(BooleanModel(mlContext, data), data);
        var directory = Path.Combine(Path.GetTempPath(), $"pragworld-report-{Guid.NewGuid():N}");
        try
        {
            var (markdown, html, chart) = PragWorldReport.Write(metrics, directory, "fake", "Fake model");

            var md = File.ReadAllLines(markdown);
            Assert.Equal("# Fake model", md[0]);
            Assert.Contains("| Original accuracy | 75.0% |", md);
            Assert.Contains("| Robust accuracy | 25.0% |", md);
            Assert.Contains("| Negation | 3 | 2 | 33.3% | 66.7% | 33.3 | 66.7% |", md);
            Assert.Contains("| VariableSubstitution | 2 | 1 | 50.0% | 100.0% | 50.0 | 50.0% |", md);
            Assert.Contains("| Implicature | 1 | 1 | 100.0% | 0.0% | 100.0 |", md);
            Assert.Equal("![Accuracy per alteration](fake.svg)", md[^1]);

            Assert.Contains("<tr><td>Negation</td><td>3</td><td>2</td><td>33.3%</td><td>66.7%</td><td>33.3</td><td>66.7%</td></tr>", File.ReadAllText(html));
            // One bar per figure: the originals and each alteration, with its value in the tooltip.
            var bars = System.Xml.Linq.XDocument.Load(chart).Descendants().Where(e => e.Name.LocalName == "rect" && e.Parent?.Name.LocalName == "svg").Skip(1).ToList();
            Assert.Equal(1 + metrics.PerAlteration.Count, bars.Count);
            Assert.StartsWith("Original: 75", bars[0].Value);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
