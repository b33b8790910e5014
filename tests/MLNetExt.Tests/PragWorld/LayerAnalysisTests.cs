using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.PragWorld;

public class LayerAnalysisTests
{
    [Fact]
    public void AlignmentMatchesTheLongestCommonSubsequenceOfTokens()
    {
        // [CLS] a b c d | [CLS] a x c d e  → a, c, d and CLS align; b and x do not; padding never aligns.
        var a = new float[] { 2, 10, 11, 12, 13, 0, 0 };
        var b = new float[] { 2, 10, 20, 12, 13, 14, 0 };
        Assert.Equal(new[] { (0, 0), (1, 1), (3, 3), (4, 4) }, PragWorldLayerAnalysis.Align(a, b));
        var inserted = new float[] { 2, 10, 30, 11, 12, 13, 0 };
        Assert.Equal(new[] { (0, 0), (1, 1), (2, 3), (3, 4), (4, 5) }, PragWorldLayerAnalysis.Align(a, inserted));
    }

    [WordNetFact]
    public void AblationAndPatchingGiveEffectsPerLayerAndAlteration()
    {
        var ml = new MLContext(seed: 1);
        var conversations = new ConversationGenerator(new ConversationGeneratorOptions { Seed = 4 }).Generate(60).ToList();
        var originals = ml.Data.LoadFromEnumerable(conversations.SelectMany(c => c.ToQuestionRows()).ToList());
        var benchmark = ml.PragWorld().Alterations.BuildBenchmark(originals, new PragWorldAlterationOptions { Seed = 2 },
            AlterationKind.Negation, AlterationKind.QuantifierChange);
        var options = new TextClassifierOptions
        {
            FeatureColumnName = "Conversation", SecondTextColumnName = "Question", MaxLength = 96, Layers = 2, ModelDimension = 32, Heads = 2,
            FeedForwardDimension = 64, Dropout = 0, Epochs = 2, BatchSize = 32, LearningRate = 2e-3, Seed = 1, Device = TorchDeviceKind.Cpu,
        };
        var model = ml.BinaryClassification.Trainers.TextTransformer(options).Fit(originals);

        var ablation = ml.PragWorld().MlpAblation(model, benchmark);
        Assert.Equal(new[] { 0, 1 }, ablation.Select(e => e.Layer).Distinct().OrderBy(x => x));
        Assert.Contains(ablation, e => e.Alteration == "Negation");
        Assert.All(ablation, e => Assert.InRange(e.Delta, -1, 1));
        Assert.False(model.Encoder.EncoderLayers.Any(l => l.ZeroMlp), "ablation must restore the layers");
        // Zeroing an MLP changes the model's answers somewhere.
        var before = model.Transform(benchmark).GetColumn<float>("Score").ToArray();
        model.Encoder.EncoderLayers[1].ZeroMlp = true;
        var after = model.Transform(benchmark).GetColumn<float>("Score").ToArray();
        model.Encoder.EncoderLayers[1].ZeroMlp = false;
        Assert.True(before.Zip(after).Max(p => Math.Abs(p.First - p.Second)) > 1e-3);

        var rows = ml.Data.CreateEnumerable<PragWorldQuestionRow>(benchmark, reuseRowObject: false).ToList();
        var patching = ml.PragWorld().Patching(model, rows, maxPairsPerAlteration: 30);
        Assert.Equal(2 * 2, patching.Count);
        Assert.All(patching, e => Assert.True(double.IsFinite(e.Delta) && e.Count > 0));

        // Patching an original with itself changes nothing.
        var self = rows.Where(r => r.Alteration == "Original").Take(10)
            .SelectMany(r => new[] { r, CloneAs(r, "Self") }).ToList();
        Assert.All(ml.PragWorld().Patching(model, self), e => Assert.True(Math.Abs(e.Delta) < 1e-5));

        var svg = Path.Combine(Path.GetTempPath(), $"mlnx-heat-{Guid.NewGuid():N}.svg");
        PragWorldLayerAnalysis.WriteHeatMap(ablation, svg, "MLP ablation");
        var chart = System.Xml.Linq.XDocument.Load(svg);
        // One coloured cell and one printed value per (layer, alteration) effect.
        Assert.Equal(ablation.Count, chart.Descendants().Count(e => e.Name.LocalName == "rect") - 1);
        Assert.Contains(chart.Descendants().Where(e => e.Name.LocalName == "text"), t => t.Value == ablation[0].Delta.ToString("+0.000;-0.000;0", System.Globalization.CultureInfo.InvariantCulture));
        File.Delete(svg);
    }

    private static PragWorldQuestionRow CloneAs(PragWorldQuestionRow r, string alteration)
    {
        var c = r.Clone();
        c.Alteration = alteration;
        c.AlterationEffect = AlterationEffects.Invariant;
        return c;
    }
}
