using System.IO.Compression;
using System.Reflection;
using Microsoft.ML;

namespace MLNetExt.Tests.Core;

/// <summary>
/// Loading damaged or mismatched model zips: what <c>mlContext.Model.Load</c> throws (ML.NET wraps our error in a
/// TargetInvocationException), what <c>LoadChecked</c> throws (our error, naming the file), payload identities, and
/// models saved with payload format 1.
/// </summary>
public sealed class ModelFileTests
{
    private static MlpClassifierOptions Options(int hidden, int seed) => new() { HiddenSizes = new[] { hidden }, Epochs = 2, Seed = seed, Device = TorchDeviceKind.Cpu };

    private static string SaveModel(int hidden, int seed)
    {
        var ml = new MLContext(seed: 0);
        var data = SyntheticData.RingsView(ml, 40, 1);
        var model = ml.MulticlassClassification.Trainers.TorchMlp(Options(hidden, seed)).Fit(data);
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-model-{Guid.NewGuid():N}.zip");
        ml.Model.Save(model, data.Schema, path);
        return path;
    }

    private static byte[] ReadEntry(string zipPath, string name)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        using var s = zip.GetEntry(name)!.Open();
        var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    private static void ReplaceEntry(string zipPath, string name, byte[]? bytes)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        zip.GetEntry(name)!.Delete();
        if (bytes is null) return;
        using var w = zip.CreateEntry(name).Open();
        w.Write(bytes);
    }

    private const string Entry = "TransformerChain/" + TorchModelPayload.EntryName;

    [Fact]
    public void PayloadFromAModelWithOtherWidthsIsRefusedNamingBothShapes()
    {
        string narrow = SaveModel(hidden: 8, seed: 1), wide = SaveModel(hidden: 16, seed: 1);
        try
        {
            ReplaceEntry(narrow, Entry, ReadEntry(wide, Entry));

            // ML.NET's own loader: our exception, wrapped by ML.NET's reflection call.
            var wrapped = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(narrow, out _));
            Assert.IsType<TargetInvocationException>(wrapped);
            var inner = Assert.IsType<ModelFormatException>(wrapped.InnerException);
            Assert.Equal(Entry, inner.File);

            // LoadChecked: the same error, unwrapped, with the file name in front.
            var e = Assert.Throws<ModelFormatException>(() => new MLContext().Model.LoadChecked(narrow, out _));
            Assert.Equal($"{narrow}, entry {Entry}", e.File);
            Assert.StartsWith($"{narrow}, entry {Entry}: does not belong to this 'MlpClassifier' transformer: tensor 1 expected ", e.Message);
            Assert.Contains("Float32[8, 2], found ", e.Message);
            Assert.Contains("Float32[16, 2]", e.Message);
            Assert.Contains("taken from another model", e.Message);
            Assert.Contains("configuration SHA-256", e.Expected);
            // Found by LoadChecked's own reading of the zip, before ML.NET's reflective loader ran.
            Assert.Contains("ModelLoading.Check(", Assert.IsType<ModelFormatException>(e.InnerException).StackTrace);
        }
        finally { File.Delete(narrow); File.Delete(wide); }
    }

    [Fact]
    public void PayloadFromAnotherTrainingOfTheSameArchitectureIsRefused()
    {
        string first = SaveModel(hidden: 8, seed: 1), second = SaveModel(hidden: 8, seed: 2);
        try
        {
            ReplaceEntry(first, Entry, ReadEntry(second, Entry));
            var e = Assert.Throws<ModelFormatException>(() => new MLContext().Model.LoadChecked(first, out _));
            Assert.Contains("does not belong to this 'MlpClassifier' transformer: payload SHA-256 expected ", e.Message);
            Assert.Contains("same architecture and configuration, other weights", e.Message);
            // Both models load on their own.
            Assert.IsType<MlpMulticlassTransformer>(new MLContext().Model.LoadChecked(second, out _));
        }
        finally { File.Delete(first); File.Delete(second); }
    }

    [Fact]
    public void MissingPayloadIsReportedUnwrappedWithFileAndEntry()
    {
        var path = SaveModel(hidden: 8, seed: 1);
        try
        {
            ReplaceEntry(path, Entry, null);
            // Found only by the transformer's loader inside ML.NET's reflection call; LoadChecked unwraps it.
            var e = Assert.Throws<ModelFormatException>(() => new MLContext().Model.LoadChecked(path, out _));
            Assert.StartsWith($"{path}, entry {Entry}: is missing: the 'MlpClassifier' transformer's weights are not in the model", e.Message);
            Assert.IsType<TargetInvocationException>(Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _)));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DamagedPayloadInsideAPipelineIsUnwrappedThroughEveryLevel()
    {
        var ml = new MLContext(seed: 0);
        var data = ml.Data.LoadFromEnumerable(SyntheticData.Rings(40, 1));
        var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.TorchMlp(Options(8, 1))).Fit(data);
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-chain-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(model, data.Schema, path);
            string entry;
            using (var zip = ZipFile.OpenRead(path)) entry = zip.Entries.Single(x => x.Name == TorchModelPayload.EntryName).FullName;
            var bytes = ReadEntry(path, entry);
            bytes[^40] ^= 0x5A;
            ReplaceEntry(path, entry, bytes);

            // ML.NET: one TargetInvocationException per level (the chain's loader, then ours).
            var wrapped = Assert.ThrowsAny<Exception>(() => new MLContext().Model.Load(path, out _));
            Assert.IsType<TargetInvocationException>(wrapped);
            Assert.IsType<TargetInvocationException>(wrapped.InnerException);
            Assert.Contains("checksum", ModelFormatException.Find(wrapped)!.Message);

            var e = Assert.Throws<ModelFormatException>(() => new MLContext().Model.LoadChecked(path, out _));
            Assert.Equal($"{path}, entry {entry}: is damaged: its SHA-256 checksum does not match its contents. Re-save or re-train the model.", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void NotAZipIsAModelFormatErrorNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlnx-notzip-{Guid.NewGuid():N}.zip");
        File.WriteAllText(path, "not a zip");
        try
        {
            var e = Assert.Throws<ModelFormatException>(() => new MLContext().Model.LoadChecked(path, out _));
            Assert.StartsWith($"{path}: is not a readable model zip", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ModelSavedWithPayloadFormat1StillLoadsAndScoresAsWhenSaved()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "Core", "Samples", "mlp-classifier-format1.zip");
        var stored = TorchModelPayload.Read(ReadEntry(path, Entry), "MlpClassifier");
        Assert.Equal(1, stored.Version);
        Assert.Null(stored.Identity.Tensors);

        var model = (MlpMulticlassTransformer)new MLContext().Model.LoadChecked(path, out var schema);
        Assert.Equal("Features", schema[0].Name);
        Assert.Equal(NonFiniteFeatureHandling.MissingPrediction, model.NonFiniteFeatures);
        // Scores the saving version of the package computed for these rows before writing the file.
        var scores = model.Score(new[] { 0.5f, -1f, 2f, 0.3f, -1.5f, -1.5f }, 3);
        var expected = new[] { 0.29272535f, 0.42915845f, 0.27811623f, 0.27786985f, 0.42621812f, 0.295912f, 0.38725302f, 0.27552545f, 0.33722165f };
        Assert.True(MLNetExt.OnnxParity.MaxAbsDifference(scores[0], expected) < 1e-6);
        Assert.Equal(new[] { 1f, 1f, 0f }, scores[1]);

        // Saved again, it gets the current format with its identity.
        using var resaved = new MemoryStream();
        new MLContext().Model.Save(model, schema, resaved);
        resaved.Position = 0;
        Assert.IsType<MlpMulticlassTransformer>(new MLContext().Model.LoadChecked(resaved, "resaved", out _));
        using var zip = new ZipArchive(new MemoryStream(resaved.ToArray()));
        using var entry = zip.GetEntry(Entry)!.Open();
        var bytes = new MemoryStream();
        entry.CopyTo(bytes);
        Assert.Equal(TorchModelPayload.FormatVersion, TorchModelPayload.Read(bytes.ToArray(), "MlpClassifier").Version);
    }
}
