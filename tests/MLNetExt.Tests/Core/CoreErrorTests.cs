using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Core;

public class CoreErrorTests
{
    private static readonly MlpClassifierOptions Tiny = new() { HiddenSizes = new[] { 8 }, Epochs = 1, Seed = 1, Device = TorchDeviceKind.Cpu };

    private sealed class DoubleRow
    {
        [VectorType(2)] public double[] Features { get; set; } = new double[2];
        public uint Label { get; set; }
    }

    private sealed class WideRow
    {
        [VectorType(5)] public float[] Features { get; set; } = new float[5];
    }

    [Fact]
    public void MissingFeatureColumnNamesTheColumnAndListsAvailableOnes()
    {
        var ml = new MLContext();
        var data = SyntheticData.RingsView(ml, 20, 1);
        var options = new MlpClassifierOptions { FeatureColumnName = "Pixels", Epochs = 1 };
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.TorchMlp(options).Fit(data));
        Assert.Contains("'Pixels'", e.Message);
        Assert.Contains("'Features'", e.Message);
    }

    [Fact]
    public void WrongFeatureTypeNamesExpectedAndActualTypes()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[] { new DoubleRow(), new DoubleRow() });
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(data));
        Assert.Contains("'Features'", e.Message);
        Assert.Contains("vector of Single", e.Message);
        Assert.Contains("Vector<Double, 2>", e.Message);
    }

    [Fact]
    public void NonKeyLabelTellsToMapValueToKey()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(SyntheticData.Rings(20, 1));
        var e = Assert.Throws<ArgumentException>(() => ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(data));
        Assert.Contains("Label column 'Label'", e.Message);
        Assert.Contains("MapValueToKey", e.Message);
    }

    [Fact]
    public void NaNFeatureIsReportedWithRowAndIndex()
    {
        var ml = new MLContext();
        var rows = SyntheticData.Rings(20, 1);
        rows[7].Features[1] = float.NaN;
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        var e = Assert.Throws<InvalidDataException>(() => ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(data));
        Assert.Contains("row 7", e.Message);
        Assert.Contains("index 1", e.Message);
    }

    [Fact]
    public void ScoringDataWithWrongVectorSizeFailsWithBothSizes()
    {
        var ml = new MLContext();
        var model = ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(SyntheticData.RingsView(ml, 20, 1));
        var wide = ml.Data.LoadFromEnumerable(new[] { new WideRow() });
        var e = Assert.Throws<ArgumentException>(() => model.Transform(wide));
        Assert.Contains("size 5", e.Message);
        Assert.Contains("size 2", e.Message);
    }

    [Fact]
    public void InvalidOptionsNameTheOption()
    {
        var ml = new MLContext();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.MulticlassClassification.Trainers.TorchMlp(new MlpClassifierOptions { BatchSize = 0 }).Fit(SyntheticData.RingsView(ml, 20, 1)));
        Assert.Equal("BatchSize", e.ParamName);
        var early = Assert.Throws<ArgumentException>(() => new MlpClassifierOptions { EarlyStoppingPatience = 2 }.Validate());
        Assert.Contains("ValidationFraction", early.Message);
    }

    private static string SaveTinyModel(MLContext ml, out IDataView data)
    {
        data = SyntheticData.RingsView(ml, 20, 1);
        var model = ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(data);
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-corrupt-{Guid.NewGuid():N}.zip");
        ml.Model.Save(model, data.Schema, path);
        return path;
    }

    private static void RewritePayload(string zipPath, Func<byte[], byte[]> change)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(TorchModelPayload.EntryName, StringComparison.Ordinal));
        byte[] bytes;
        using (var s = entry.Open()) { var m = new MemoryStream(); s.CopyTo(m); bytes = m.ToArray(); }
        var name = entry.FullName;
        entry.Delete();
        using var w = zip.CreateEntry(name).Open();
        w.Write(change(bytes));
    }

    [Fact]
    public void CorruptedWeightsInModelZipGiveChecksumError()
    {
        var ml = new MLContext();
        var path = SaveTinyModel(ml, out _);
        try
        {
            // Flip a byte near the end of the payload (inside the weights, before the 32-byte checksum).
            RewritePayload(path, b => { b[^40] ^= 0x5A; return b; });
            var e = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _));
            var inner = ModelFormatException.Find(e);
            Assert.NotNull(inner);
            Assert.Contains("damaged", inner!.Message);
            Assert.Contains("checksum", inner.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void NewerFormatVersionAsksToUpdateThePackage()
    {
        var ml = new MLContext();
        var path = SaveTinyModel(ml, out _);
        try
        {
            // Payload layout: 8-byte magic, then the int32 format version.
            RewritePayload(path, b => { BitConverter.TryWriteBytes(b.AsSpan(8, 4), 99); return b; });
            var inner = ModelFormatException.Find(Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _)));
            Assert.NotNull(inner);
            Assert.Contains("version 99", inner!.Message);
            Assert.Contains("Update", inner.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void PayloadRoundTripAndTruncationAreDetected()
    {
        using var module = new MlpModule(2, new[] { 3 }, 2, 0);
        var bytes = TorchModelPayload.Create("Test", w => w.Write(42), module);
        var stored = TorchModelPayload.Read(bytes, "Test");
        using (var r = stored.OpenConfig()) Assert.Equal(42, r.ReadInt32());
        Assert.Contains("damaged", Assert.Throws<ModelFormatException>(() => TorchModelPayload.Read(bytes[..^50], "Test")).Message);
        Assert.Contains("'Test' model, not 'Other'", Assert.Throws<ModelFormatException>(() => TorchModelPayload.Read(bytes, "Other")).Message);
        Assert.Contains("not an MLNetExt", Assert.Throws<ModelFormatException>(() => TorchModelPayload.Read(new byte[64], "Test")).Message);
        Assert.Equal(PayloadTensor.Of(module), stored.Identity.Tensors);
    }

    [Fact]
    public void GpuRequestFallsBackToCpuWithWarningWhenCudaIsMissing()
    {
        var ml = new MLContext();
        var model = ml.MulticlassClassification.Trainers.TorchMlp(Tiny).Fit(SyntheticData.RingsView(ml, 20, 1));
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-gpu-{Guid.NewGuid():N}.onnx");
        try
        {
            model.SaveAsOnnx(path);
            var warnings = new List<string>();
            using var session = OnnxSessionFactory.Create(path, OnnxExecutionDevice.Cuda, warnings.Add);
            bool cudaWorks = warnings.Count == 0;
            if (!cudaWorks) Assert.Contains("running the ONNX model on CPU", warnings[0]);
            var outputs = OnnxParity.Run(session, new Dictionary<string, (float[], int[])> { ["Features"] = (new[] { 0.5f, -1f }, new[] { 1, 2 }) }, "Score");
            Assert.Equal(1.0, outputs["Score"].Data.Sum(), 4);
            Assert.Throws<FileNotFoundException>(() => OnnxSessionFactory.Create(path + ".missing"));
        }
        finally { File.Delete(path); }
    }
}

public class DataViewReaderTests
{
    private sealed class TokensRow
    {
        public float[] Tokens { get; set; } = Array.Empty<float>();
    }

    [Fact]
    public void VariableLengthVectorsAreReadAndPadded()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[]
        {
            new TokensRow { Tokens = new[] { 1f, 2f, 3f } }, new TokensRow { Tokens = Array.Empty<float>() }, new TokensRow { Tokens = new[] { 4f } },
        });
        var ragged = DataViewReader.ReadVariableLengthFeatures(data, "Tokens");
        Assert.Equal(new[] { 0, 3, 3, 4 }, ragged.Offsets);
        Assert.Equal(3, ragged.MaxLength);
        var (padded, lengths) = ragged.Pad(2, padValue: -1);
        Assert.Equal(new[] { 1f, 2f, -1f, -1f, 4f, -1f }, padded);
        Assert.Equal(new[] { 2, 0, 1 }, lengths);
        Assert.Throws<ArgumentException>(() => DataViewReader.RequireFloatVector(data.Schema, "Tokens"));
    }
}
