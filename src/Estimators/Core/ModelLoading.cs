using System.IO.Compression;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt;

/// <summary>
/// Loads ML.NET model zips that hold MLNetExt transformers so that a damaged or mismatched model fails with a
/// <see cref="ModelFormatException"/> naming the file and the entry, not with ML.NET's
/// <see cref="TargetInvocationException"/>.
/// </summary>
/// <remarks>
/// ML.NET's <c>mlContext.Model.Load</c> creates every transformer of the zip through reflection
/// (<c>ComponentCatalog.LoadableClassInfo.CreateInstanceCore</c> calls <c>MethodInfo.Invoke</c>) and rethrows the
/// resulting <see cref="TargetInvocationException"/>, so there our errors arrive as its <c>InnerException</c>.
/// <see cref="LoadChecked(ModelOperationsCatalog, string, out DataViewSchema)"/> first reads every MLNetExt payload
/// of the zip with the same code the loader uses (but called directly), then lets ML.NET load the model.
/// </remarks>
public static class ModelLoading
{
    private const string ModelStreamName = "Model.key";

    /// <summary>
    /// Loads a model zip like <c>mlContext.Model.Load(path, out inputSchema)</c>, after checking each MLNetExt
    /// transformer's <see cref="TorchModelPayload.EntryName"/> entry: present, intact, of a readable format, and the
    /// one its transformer was saved with.
    /// </summary>
    /// <exception cref="ModelFormatException">An MLNetExt entry of the zip is damaged, missing, too new or taken from another model; the message names the file and the entry.</exception>
    public static ITransformer LoadChecked(this ModelOperationsCatalog catalog, string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file not found: {path}", path);
        using var stream = File.OpenRead(path);
        return LoadChecked(catalog, stream, path, out inputSchema);
    }

    /// <summary>As <see cref="LoadChecked(ModelOperationsCatalog, string, out DataViewSchema)"/>, from a seekable stream; <paramref name="name"/> is used in messages.</summary>
    /// <exception cref="ModelFormatException">An MLNetExt entry of the model is damaged, missing, too new or taken from another model.</exception>
    public static ITransformer LoadChecked(this ModelOperationsCatalog catalog, Stream stream, string name, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek) throw new ArgumentException("The model stream must be seekable (it is read twice).", nameof(stream));
        var env = ((IInternalCatalog)catalog).Environment;
        long start = stream.Position;
        try
        {
            using (var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true))
            {
                foreach (var entry in zip.Entries.Where(e => e.Name == TorchModelPayload.EntryName))
                    Check(env, zip, entry);
            }
        }
        catch (ModelFormatException e)
        {
            throw e.InFile(name);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(name, $"is not a readable model zip: {e.Message}", inner: e);
        }
        stream.Position = start;
        try
        {
            return catalog.Load(stream, out inputSchema);
        }
        catch (TargetInvocationException e) when (ModelFormatException.Find(e) is { } inner)
        {
            // What only building the network can find (a configuration the method cannot read) surfaces inside
            // ML.NET's reflection call; give it the caller's file name and drop the wrappers.
            throw inner.InFile(name);
        }
    }

    private static void Check(Microsoft.ML.Runtime.IHostEnvironment env, ZipArchive zip, ZipArchiveEntry payloadEntry)
    {
        string directory = payloadEntry.FullName[..^payloadEntry.Name.Length];
        var modelEntry = zip.GetEntry(directory + ModelStreamName)
            ?? throw new ModelFormatException(payloadEntry.FullName, $"has no {ModelStreamName} beside it: the transformer it belongs to is missing; the file is damaged or incomplete.");
        var modelStream = ReadAll(modelEntry);
        var payload = ReadAll(payloadEntry).ToArray();
        ModelLoadContext ctx;
        try
        {
            // ML.NET reads its own header of the model stream and leaves the reader where the transformer's part starts.
            ctx = new ModelLoadContext(new BinaryReader(modelStream), env);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelFormatException(modelEntry.FullName, $"is damaged: ML.NET cannot read its header ({e.Message}).", inner: e);
        }
        using (ctx) TorchModelTransformer.ReadStored(ctx.Reader, payload, methodName: null, payloadEntry.FullName);
    }

    private static MemoryStream ReadAll(ZipArchiveEntry entry)
    {
        var buffer = new MemoryStream();
        using (var s = entry.Open()) s.CopyTo(buffer);
        buffer.Position = 0;
        return buffer;
    }
}
