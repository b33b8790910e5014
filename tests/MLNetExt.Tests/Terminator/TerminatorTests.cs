using Microsoft.ML;
using MLNetExt.Tests.Core;
using MLNetExt.Tests.Images;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Terminator;

/// <summary>Terminator on a small Fashion-MNIST subset: learning, save/load, ONNX parity, batch independence, errors.</summary>
public sealed class TerminatorTests
{
    internal static TerminatorOptions Tiny(TerminatorInputKind input = TerminatorInputKind.Image, List<TrainingProgress>? progress = null) => new()
    {
        Input = input, BlockChannels = new[] { 4, 8, 8 }, GlobalHidden = 8, LocalHidden = 8, Epochs = 3, BatchSize = 32,
        LearningRate = 5e-3, Seed = 1, WarmupEpochs = 0, Progress = progress is null ? null : new SyncProgress<TrainingProgress>(progress.Add),
    };

    internal static (MLContext Ml, IDataView Train) Data(int rows)
    {
        var ml = new MLContext(seed: 0);
        return (ml, ml.Data.Cache(FashionMnist.LoadTrain(ml, rows)));
    }

    [FashionMnistFact]
    public void TwoDimensionalModelLearnsAboveChance()
    {
        var (ml, train) = Data(400);
        var progress = new List<TrainingProgress>();
        var o = Tiny(progress: progress);
        o.Epochs = 5;
        var model = ml.MulticlassClassification.Trainers.Terminator(o).Fit(train);
        Assert.True(progress[^1].TrainLoss < progress[0].TrainLoss - 0.1, $"loss {progress[0].TrainLoss:F3} → {progress[^1].TrainLoss:F3}");
        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(train)).MicroAccuracy;
        Assert.True(accuracy > 0.3, $"training accuracy {accuracy:P1} (chance 10 %)");
    }

    [FashionMnistFact]
    public void SequenceModelLearnsAboveChance()
    {
        var (ml, train) = Data(400);
        var progress = new List<TrainingProgress>();
        var o = Tiny(TerminatorInputKind.Sequence, progress);
        o.Epochs = 6;
        var model = ml.MulticlassClassification.Trainers.Terminator(o).Fit(train);
        Assert.True(progress[^1].TrainLoss < progress[0].TrainLoss - 0.1, $"loss {progress[0].TrainLoss:F3} → {progress[^1].TrainLoss:F3}");
        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(train)).MicroAccuracy;
        Assert.True(accuracy > 0.25, $"training accuracy {accuracy:P1} (chance 10 %)");
    }

    [FashionMnistFact]
    public void FeedbackLossPullsGlobalKernelsTogether()
    {
        var (ml, train) = Data(200);
        double Feedback(double weight)
        {
            var o = Tiny();
            o.Epochs = 2;
            o.FeedbackLossWeight = weight;
            var model = ml.MulticlassClassification.Trainers.Terminator(o).Fit(train);
            using var _ = no_grad();
            return model.Network.FeedbackLoss().item<float>();
        }
        double off = Feedback(0), on = Feedback(10);
        Assert.True(on < 0.5 * off, $"feedback loss with the term {on:G3} vs without {off:G3}");
    }

    [Theory]
    [InlineData(TerminatorInputKind.Image, false, 1)]
    [InlineData(TerminatorInputKind.Image, false, 2)]
    [InlineData(TerminatorInputKind.Sequence, false, 1)]
    [InlineData(TerminatorInputKind.Sequence, true, 1)]
    [InlineData(TerminatorInputKind.Sequence, true, 4)]
    [InlineData(TerminatorInputKind.Sequence, false, 28)] // one image row per step: the benchmark's 1-D setting
    public void SavesLoadsAndExportsToOnnxWithMatchingScores(TerminatorInputKind input, bool permuted, int patch)
    {
        if (!FashionMnist.IsInstalled()) return;
        var (ml, train) = Data(96);
        var o = Tiny(input);
        o.Epochs = 1;
        o.PermuteSequence = permuted;
        o.PatchSize = patch;
        var model = ml.MulticlassClassification.Trainers.Terminator(o).Fit(train);
        var features = ml.Data.CreateEnumerable<ImageRow>(train, false).Take(32).SelectMany(r => r.Features).ToArray();
        var expected = model.Score(features, 32)[0];

        using var stream = new MemoryStream();
        ml.Model.Save(model, train.Schema, stream);
        stream.Position = 0;
        var loaded = (TerminatorTransformer)new MLContext().Model.Load(stream, out _);
        Assert.True(OnnxParity.MaxAbsDifference(loaded.Score(features, 32)[0], expected) < 1e-6);

        var path = Path.Combine(Path.GetTempPath(), $"terminator-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            Assert.True(OnnxParity.Compare(path, "Features", features, new[] { 32, 784 }, "Score", expected) <= 1e-4);
            Assert.True(OnnxParity.Compare(path, "Features", features[..784], new[] { 1, 784 }, "Score", expected.AsSpan(0, 10)) <= 1e-4);
        }
        finally { File.Delete(path); }
    }

    [FashionMnistFact]
    public void ARowScoresTheSameAloneAndInsideABatch()
    {
        var (ml, train) = Data(64);
        var o = Tiny();
        o.Epochs = 1;
        var model = ml.MulticlassClassification.Trainers.Terminator(o).Fit(train);
        var features = ml.Data.CreateEnumerable<ImageRow>(train, false).Take(16).SelectMany(r => r.Features).ToArray();
        var batch = model.Score(features, 16)[0];
        for (int i = 0; i < 16; i += 5)
            Assert.True(OnnxParity.MaxAbsDifference(model.Score(features[(i * 784)..((i + 1) * 784)], 1)[0], batch.AsSpan(i * 10, 10)) < 1e-5, $"row {i}");
    }

    [Fact]
    public void LongConvolutionByFftEqualsDirectCausalConvolution()
    {
        manual_seed(3);
        var z = randn(2, 3, 50);
        var k = randn(2, 3, 50);
        var viaFft = LongConvolution.Causal(z, k);
        var direct = zeros(2, 3, 50);
        for (int t = 0; t < 50; t++)
            direct[.., .., t] = (k.narrow(2, 0, t + 1).flip(2) * z.narrow(2, 0, t + 1)).sum(2);
        Assert.True((viaFft - direct).abs().max().item<float>() < 1e-4);
        Assert.Equal(128, LongConvolution.FftLength(50));
    }

    [Fact]
    public void SingleChannelDepthwiseConvolutionHasFiniteExactGradients()
    {
        // Plain libtorch single-channel conv1d backward gave non-finite input gradients in 36 of 200 calls of this shape.
        manual_seed(5);
        for (int trial = 0; trial < 40; trial++)
        {
            var x = randn(64, 1, 784).requires_grad_(true);
            var w = (randn(1, 1, 5) * 0.1).requires_grad_(true);
            var upstream = randn(64, 1, 784);
            (LocalHyperZzwBranch.Depthwise(x, w, 2) * upstream).sum().backward();
            // Reference without convolution kernels: y[t] = Σ_j w[j] · x[t + j − 2] (zero padded), differentiated by autograd.
            var xr = x.detach().clone().requires_grad_(true);
            var padded = nn.functional.pad(xr, new long[] { 2, 2 });
            Tensor reference = zeros(64, 1, 784);
            for (int j = 0; j < 5; j++) reference = reference + w.detach()[0, 0, j] * padded.narrow(2, j, 784);
            (reference * upstream).sum().backward();
            Assert.True(x.grad!.isfinite().all().item<bool>(), $"trial {trial}: non-finite input gradient");
            Assert.True((x.grad! - xr.grad!).abs().max().item<float>() < 1e-4, $"trial {trial}: input gradient differs from the reference");
        }
    }

    [Fact]
    public void BadShapesAndOptionsGiveClearErrors()
    {
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, 8).Select(i => new { Features = new float[30], Label = (uint)(i % 2) }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new SmallRow { Features = r.Features, Label = r.Label }));
        data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(Tiny()).Fit(data));
        Assert.Contains("not a square image", e.Message);
        var o = Tiny();
        o.ImageHeight = 5; o.ImageWidth = 6;
        e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(data));
        Assert.Contains("square", e.Message);
        o = Tiny(); o.InputChannels = 4;
        e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(data));
        Assert.Contains("InputChannels", e.Message);
        o = Tiny(); o.LocalKernelSizes = new[] { 3, 4, 5, 7 };
        e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(data));
        Assert.Contains("LocalKernelSizes", e.Message);
        o = Tiny(); o.InputChannels = 30; o.PatchSize = 2;   // a 1×1 image cannot be cut into 2×2 patches
        e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(data));
        Assert.Contains("PatchSize = 2 must divide the image size 1×1", e.Message);
        o = Tiny(TerminatorInputKind.Sequence); o.PatchSize = 4;   // 30 steps cannot be cut into groups of 4
        e = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(data));
        Assert.Contains("PatchSize = 4 must divide the sequence length 30", e.Message);
    }

    [Fact]
    public void NaNPixelAndMissingLabelColumnAreNamed()
    {
        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, 8).Select(i => new PixelRow { Features = Enumerable.Repeat(0.5f, 36).ToArray(), Label = (uint)(i % 2) }).ToList();
        rows[5].Features[17] = float.NaN;
        var data = ml.Data.LoadFromEnumerable(rows);
        data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
        var nan = Assert.Throws<InvalidDataException>(() => ml.MulticlassClassification.Trainers.Terminator(Tiny()).Fit(data));
        Assert.Contains("row 5", nan.Message);
        Assert.Contains("index 17", nan.Message);
        rows[5].Features[17] = 0.5f;
        var clean = ml.Data.LoadFromEnumerable(rows);
        var o = Tiny(); o.LabelColumnName = "Category";
        var missing = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.Terminator(o).Fit(clean));
        Assert.Contains("'Category'", missing.Message);
    }

    private sealed class ImageRow
    {
        [Microsoft.ML.Data.VectorType(784)] public float[] Features { get; set; } = Array.Empty<float>();
    }

    private sealed class PixelRow
    {
        [Microsoft.ML.Data.VectorType(36)] public float[] Features { get; set; } = Array.Empty<float>();
        public uint Label { get; set; }
    }

    private sealed class SmallRow
    {
        [Microsoft.ML.Data.VectorType(30)] public float[] Features { get; set; } = Array.Empty<float>();
        public uint Label { get; set; }
    }
}
