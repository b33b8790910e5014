using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Text;

public class TextTransformerTests
{
    public sealed class QaRow
    {
        public string Text { get; set; } = "";
        public bool Label { get; set; }
    }

    internal static readonly string[] Names = { "alice", "bob", "carol", "dave" };
    internal static readonly string[] Objects = { "ball", "book", "key", "cup" };

    /// <summary>"A gives the X to B [SEP] does C have the X ?" with C ∈ {A, B}: word counts alone cannot answer; order can.</summary>
    public static List<QaRow> GiveQuestions(int rows, int seed)
    {
        var rng = new Random(seed);
        var list = new List<QaRow>();
        for (int i = 0; i < rows; i++)
        {
            var a = Names[rng.Next(4)];
            var b = Names.Where(n => n != a).ElementAt(rng.Next(3));
            var x = Objects[rng.Next(4)];
            bool askReceiver = rng.Next(2) == 0;
            var c = askReceiver ? b : a;
            list.Add(new QaRow { Text = $"{a} gives the {x} to {b} . [SEP] does {c} have the {x} ?", Label = askReceiver });
        }
        return list;
    }

    private static TextClassifierOptions SmallOptions(int epochs) => new()
    {
        MaxLength = 16, Layers = 2, ModelDimension = 32, Heads = 4, FeedForwardDimension = 64, Dropout = 0,
        Epochs = epochs, BatchSize = 32, LearningRate = 3e-3, Seed = 3, Device = TorchDeviceKind.Cpu,
    };

    [Fact]
    public void TokenizerLearnsVocabularyAndEncodesWithClsSepAndPadding()
    {
        var tok = WordTokenizer.Train(new[] { "Bob has the ball.", "bob has a key" });
        Assert.Equal(new[] { "bob", "has", ".", "a", "ball", "key", "the" }, Enumerable.Range(4, tok.VocabularySize - 4).Select(tok.Word));
        var ids = new float[8];
        int used = tok.Encode("Bob has the KEY [SEP] zebra", ids);
        Assert.Equal(7, used);
        Assert.Equal(new float[] { WordTokenizer.Cls, 4, 5, 10, 9, WordTokenizer.Sep, WordTokenizer.Unknown, WordTokenizer.Pad }, ids);
        var ms = new MemoryStream();
        tok.Write(new BinaryWriter(ms));
        ms.Position = 0;
        Assert.Equal(tok.VocabularySize, WordTokenizer.Read(new BinaryReader(ms)).VocabularySize);
    }

    [Fact]
    public void LearnsAnOrderDependentQuestionThatBagOfWordsCannotAnswer()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(GiveQuestions(1200, 1));
        var test = ml.Data.LoadFromEnumerable(GiveQuestions(300, 2));
        var trainer = ml.BinaryClassification.Trainers.TextTransformer(SmallOptions(epochs: 12));
        var model = trainer.Fit(train);
        Assert.True(model.Training!.History.TrainLoss[^1] < 0.5 * model.Training.History.TrainLoss[0]);
        var metrics = ml.BinaryClassification.Evaluate(model.Transform(test));
        Assert.True(metrics.Accuracy > 0.9, $"accuracy {metrics.Accuracy}");

        // Unigram counts are identical for the two answers, so a bag-of-words linear model stays near chance.
        var bow = ml.Transforms.Text.FeaturizeText("Features", new Microsoft.ML.Transforms.Text.TextFeaturizingEstimator.Options
        {
            WordFeatureExtractor = new Microsoft.ML.Transforms.Text.WordBagEstimator.Options { NgramLength = 1 }, CharFeatureExtractor = null,
        }, "Text").Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression()).Fit(train);
        var bowMetrics = ml.BinaryClassification.Evaluate(bow.Transform(test));
        Assert.True(bowMetrics.Accuracy < 0.65, $"bag-of-words accuracy {bowMetrics.Accuracy}");
    }

    [Fact]
    public void SaveLoadOnnxAndLayerSkipping()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(GiveQuestions(200, 1));
        var test = ml.Data.LoadFromEnumerable(GiveQuestions(40, 2));
        var model = ml.BinaryClassification.Trainers.TextTransformer(SmallOptions(epochs: 2)).Fit(train);
        var scores = model.Transform(test).GetColumn<float>("Score").ToArray();

        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var loaded = new MLContext().Model.Load(stream, out _);
        Assert.Equal(scores, loaded.Transform(test).GetColumn<float>("Score").ToArray());
        Assert.Equal(model.Transform(test).GetColumn<bool>("PredictedLabel"), scores.Select(s => s > 0));

        var path = Path.Combine(Path.GetTempPath(), $"mlnx-text-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var texts = GiveQuestions(40, 2).Select(r => r.Text).ToList();
            var ids = new float[texts.Count * 16];
            for (int i = 0; i < texts.Count; i++) model.Tokenizer.Encode(texts[i], ids.AsSpan(i * 16, 16));
            Assert.True(OnnxParity.Compare(path, "Text", ids, new[] { texts.Count, 16 }, "Score", scores) <= 1e-4);
        }
        finally { File.Delete(path); }

        using var withoutLayer1 = model.WithSkippedLayers(1);
        var skipped = withoutLayer1.Transform(test).GetColumn<float>("Score").ToArray();
        Assert.True(OnnxParity.MaxAbsDifference(skipped, scores) > 1e-3, "skipping a layer must change the scores");
        // The original model is untouched: same scores, same ONNX export.
        Assert.Empty(model.Encoder.SkippedLayers);
        Assert.Equal(scores, model.Transform(test).GetColumn<float>("Score").ToArray());
        Assert.Equal(new[] { 1 }, withoutLayer1.Encoder.SkippedLayers);
        var onnxPath = Path.Combine(Path.GetTempPath(), $"mlnx-text-skip-{Guid.NewGuid():N}.onnx");
        var zipPath = Path.ChangeExtension(onnxPath, ".zip");
        try
        {
            var texts = GiveQuestions(40, 2).Select(r => r.Text).ToList();
            var ids = new float[texts.Count * 16];
            for (int i = 0; i < texts.Count; i++) model.Tokenizer.Encode(texts[i], ids.AsSpan(i * 16, 16));
            withoutLayer1.SaveAsOnnx(onnxPath);
            Assert.True(OnnxParity.Compare(onnxPath, "Text", ids, new[] { texts.Count, 16 }, "Score", skipped) <= 1e-4);
            model.SaveAsOnnx(onnxPath);
            Assert.True(OnnxParity.Compare(onnxPath, "Text", ids, new[] { texts.Count, 16 }, "Score", scores) <= 1e-4);
            // The skipped layers are part of the saved model.
            ml.Model.Save(withoutLayer1, test.Schema, zipPath);
            var reloaded = (TextTransformerBinaryTransformer)new MLContext().Model.Load(zipPath, out _);
            Assert.Equal(new[] { 1 }, reloaded.Encoder.SkippedLayers);
            Assert.Equal(skipped, reloaded.Transform(test).GetColumn<float>("Score").ToArray());
        }
        finally
        {
            File.Delete(onnxPath);
            File.Delete(zipPath);
        }
    }

    [Fact]
    public void HiddenStatesAreCapturedPerLayer()
    {
        using var encoder = new TextTransformerEncoder(20, SmallOptions(1), 2) { CaptureHiddenStates = true };
        encoder.eval();
        var ids = TorchSharp.torch.tensor(new float[] { 2, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, new long[] { 1, 16 });
        var logits = encoder.call(ids);
        Assert.Equal(new long[] { 1, 2 }, logits.shape);
        Assert.Equal(2, encoder.HiddenStates.Count);
        Assert.Equal(new long[] { 1, 16, 32 }, encoder.HiddenStates[1]!.shape);
    }

    [Fact]
    public void NonTextColumnIsRejectedWithTypes()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[] { new { Text = 3f, Label = true } }.Select(x => new NumRow { Text = x.Text, Label = x.Label }));
        var e = Assert.Throws<ArgumentException>(() => ml.BinaryClassification.Trainers.TextTransformer(SmallOptions(1)).Fit(data));
        Assert.Contains("Text column 'Text'", e.Message);
        Assert.Contains("Single", e.Message);
    }

    public sealed class NumRow
    {
        public float Text { get; set; }
        public bool Label { get; set; }
    }
}

public class EncoderHookTests
{
    private static TextTransformerEncoder Encoder()
    {
        TorchSharp.torch.random.manual_seed(5);
        var e = new TextTransformerEncoder(30, new TextEncoderShape(8, 30, 3, 16, 2, 32, 0), 2);
        e.eval();
        return e;
    }

    private static TorchSharp.torch.Tensor Ids(params float[] v) => TorchSharp.torch.tensor(v, new long[] { v.Length / 8, 8 });

    [Fact]
    public void TrimmingAllPaddingColumnsLeavesLogitsUnchanged()
    {
        using var e = Encoder();
        var ids = Ids(2, 5, 6, 7, 0, 0, 0, 0, 2, 9, 3, 0, 0, 0, 0, 0);
        var trimmed = e.call(ids).data<float>().ToArray();
        e.CaptureHiddenStates = true; // needs the full width, so nothing is trimmed
        var full = e.call(ids).data<float>().ToArray();
        Assert.Equal(8, e.HiddenStates[0]!.shape[1]);
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(trimmed, full) < 1e-5);
    }

    [Fact]
    public void MlpZeroingChangesLogitsAndCaptureHoldsMlpOutput()
    {
        using var e = Encoder();
        var ids = Ids(2, 5, 6, 7, 0, 0, 0, 0);
        var baseLogits = e.call(ids).data<float>().ToArray();
        e.EncoderLayers[1].CaptureMlp = true;
        e.call(ids);
        // Columns that are padding in every row are trimmed before the layers: 4 used tokens.
        Assert.Equal(new long[] { 1, 4, 16 }, e.EncoderLayers[1].LastMlpOutput!.shape);
        e.EncoderLayers[1].ZeroMlp = true;
        var ablated = e.call(ids).data<float>().ToArray();
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(ablated, baseLogits) > 1e-4);
        Assert.Equal(0f, e.EncoderLayers[1].LastMlpOutput!.abs().max().item<float>());
    }

    [Fact]
    public void PatchingWithOwnResidualIsIdentityAndWithOthersMovesTowardThem()
    {
        using var e = Encoder();
        var a = Ids(2, 5, 6, 7, 0, 0, 0, 0);
        var b = Ids(2, 9, 6, 8, 0, 0, 0, 0);
        e.CaptureLayerInputs = true;
        var la = e.call(a).data<float>().ToArray();
        var residualA = e.LayerInputs[2].detach().clone();
        var lb = e.call(b).data<float>().ToArray();
        var residualB = e.LayerInputs[2].detach().clone();
        e.CaptureLayerInputs = false;
        var all = TorchSharp.torch.ones(1, 8);
        e.ResidualPatch = (2, residualA, all);
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(e.call(a).data<float>().ToArray(), la) < 1e-5);
        e.ResidualPatch = (2, residualB, all);   // patching the whole stream before the last layer reproduces b's run
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(e.call(a).data<float>().ToArray(), lb) < 1e-5);
    }

    [Fact]
    public void GateZeroRemovesTheLayer()
    {
        using var e = Encoder();
        var ids = Ids(2, 5, 6, 7, 0, 0, 0, 0);
        using var withoutFirst = e.WithSkippedLayers(new[] { 0 });
        var skipped = withoutFirst.call(ids).data<float>().ToArray();
        Assert.Empty(e.SkippedLayers);
        Assert.Throws<ArgumentOutOfRangeException>(() => e.WithSkippedLayers(new[] { e.LayerCount }));
        using (TorchSharp.torch.no_grad()) e.EncoderLayers[0].Gate.fill_(0);
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(e.call(ids).data<float>().ToArray(), skipped) < 1e-6);
    }
}

public class TextPairAndRegularizationTests
{
    public sealed class PairRow
    {
        public string Context { get; set; } = "";
        public string Question { get; set; } = "";
        public bool Label { get; set; }
    }

    private static List<PairRow> Pairs(int n, int seed) => TextTransformerTests.GiveQuestions(n, seed).Select(r =>
    {
        var parts = r.Text.Split(" [SEP] ");
        return new PairRow { Context = parts[0], Question = parts[1], Label = r.Label };
    }).ToList();

    private static TextClassifierOptions Options(int epochs, LayerRegularization? reg = null, TextTransformerEncoder? init = null, WordTokenizer? tok = null) => new()
    {
        FeatureColumnName = "Context", SecondTextColumnName = "Question", MaxLength = 16, Layers = 2, ModelDimension = 32, Heads = 4,
        FeedForwardDimension = 64, Dropout = 0, Epochs = epochs, BatchSize = 32, LearningRate = 3e-3, Seed = 3, Device = TorchDeviceKind.Cpu,
        LayerRegularization = reg, InitialEncoder = init, InitialTokenizer = tok,
    };

    [Fact]
    public void PairInputTrainsScoresThroughPredictionEngineAndReloads()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Pairs(600, 1));
        var model = ml.BinaryClassification.Trainers.TextTransformer(Options(8)).Fit(train);
        var test = ml.Data.LoadFromEnumerable(Pairs(100, 2));
        Assert.True(ml.BinaryClassification.Evaluate(model.Transform(test)).Accuracy > 0.8);
        var engine = ml.Model.CreatePredictionEngine<PairRow, BinaryOut>(model);
        var first = Pairs(100, 2)[0];
        Assert.Equal(model.Transform(test).GetColumn<float>("Score").First(), engine.Predict(first).Score, 5);
        using var s = new MemoryStream();
        ml.Model.Save(model, train.Schema, s);
        s.Position = 0;
        var loaded = new MLContext().Model.Load(s, out _);
        Assert.Equal(model.Transform(test).GetColumn<float>("Score"), loaded.Transform(test).GetColumn<float>("Score"));
    }

    [Theory]
    [InlineData(LayerRegularizationKind.MlpOutputPenalty)]
    [InlineData(LayerRegularizationKind.LayerGatePenalty)]
    public void FineTuningWithLayerRegularizationReducesThePenalizedQuantity(LayerRegularizationKind kind)
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Pairs(300, 1));
        var model = ml.BinaryClassification.Trainers.TextTransformer(Options(3)).Fit(train);
        var reg = new LayerRegularization { Kind = kind, Layers = new[] { 1 }, Weight = 1.0 };

        double Measure(TextTransformerEncoder e)
        {
            reg.Prepare(e);
            e.eval();
            var ids = new float[300 * 16];
            var rows = Pairs(300, 1);
            for (int i = 0; i < rows.Count; i++) model.Tokenizer.Encode(rows[i].Context + " [SEP] " + rows[i].Question, ids.AsSpan(i * 16, 16));
            using (TorchSharp.torch.no_grad()) e.call(TorchSharp.torch.tensor(ids, new long[] { 300, 16 }));
            return reg.Value(e);
        }

        double before = Measure(model.Encoder);
        var tuned = ml.BinaryClassification.Trainers.TextTransformer(Options(3, reg, model.Encoder, model.Tokenizer)).Fit(train);
        double after = Measure(tuned.Encoder);
        // Adam moves a gate by about LearningRate per step (30 steps here); MLP outputs shrink much faster.
        double factor = kind == LayerRegularizationKind.LayerGatePenalty ? 0.95 : 0.7;
        Assert.True(after < factor * before, $"{kind}: penalty {before} -> {after}");
        Assert.Equal(model.Tokenizer.VocabularySize, tuned.Tokenizer.VocabularySize);
    }

    public sealed class BinaryOut
    {
        public float Score { get; set; }
        public bool PredictedLabel { get; set; }
    }
}
