using System.Security.Cryptography;
using Microsoft.ML;
using TorchSharp;

namespace MLNetExt.Core;

/// <summary>
/// The bytes of a trained TorchSharp model as stored inside the ML.NET model zip (entry <see cref="EntryName"/>):
/// magic, format version, method name, the method's configuration, the module's state dict, and a SHA-256 over both,
/// so an unknown version or a damaged file fails with a message that says which.
/// </summary>
public static class TorchModelPayload
{
    /// <summary>Name of the zip entry holding the payload, beside the transformer's ML.NET model stream.</summary>
    public const string EntryName = "TorchModel.bin";
    /// <summary>Newest payload format this version writes and reads.</summary>
    public const int FormatVersion = 1;
    private static readonly byte[] Magic = "MLNXTRCH"u8.ToArray();

    /// <summary>Serialises a method name, its configuration (written by <paramref name="writeConfig"/>) and <paramref name="module"/>'s weights.</summary>
    public static byte[] Create(string methodName, Action<BinaryWriter> writeConfig, torch.nn.Module module)
    {
        var config = new MemoryStream();
        using (var w = new BinaryWriter(config, System.Text.Encoding.UTF8, leaveOpen: true)) writeConfig(w);
        var weights = new MemoryStream();
        using (var w = new BinaryWriter(weights, System.Text.Encoding.UTF8, leaveOpen: true)) module.save(w);
        var output = new MemoryStream();
        using (var w = new BinaryWriter(output))
        {
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(methodName);
            w.Write(config.Length);
            w.Write(config.GetBuffer(), 0, (int)config.Length);
            w.Write(weights.Length);
            w.Write(weights.GetBuffer(), 0, (int)weights.Length);
            w.Write(Hash(config.GetBuffer().AsSpan(0, (int)config.Length), weights.GetBuffer().AsSpan(0, (int)weights.Length)));
        }
        return output.ToArray();
    }

    private static byte[] Hash(ReadOnlySpan<byte> config, ReadOnlySpan<byte> weights)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(config);
        sha.AppendData(weights);
        return sha.GetHashAndReset();
    }

    /// <summary>Parses and verifies payload bytes written by <see cref="Create"/> for <paramref name="expectedMethod"/>.</summary>
    /// <exception cref="InvalidDataException">Not a payload, a newer format, another method, or damaged bytes.</exception>
    public static StoredTorchModel Read(byte[] bytes, string expectedMethod, string source = EntryName)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes));
            var magic = r.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic))
                throw new InvalidDataException($"{source} is not an MLNetExt TorchSharp model (bad header); the model file is damaged or not ours.");
            int version = r.ReadInt32();
            if (version < 1 || version > FormatVersion)
                throw new InvalidDataException($"{source} uses model format version {version}, but this MLNetExt reads versions 1 to {FormatVersion}. " +
                    "Update the MLNetExt package to load it.");
            string method = r.ReadString();
            if (method != expectedMethod)
                throw new InvalidDataException($"{source} holds a '{method}' model, not '{expectedMethod}'.");
            var config = ReadBlock(r, source, "configuration");
            var weights = ReadBlock(r, source, "weights");
            var hash = r.ReadBytes(32);
            if (!hash.AsSpan().SequenceEqual(Hash(config, weights)))
                throw new InvalidDataException($"{source} is damaged: its SHA-256 checksum does not match its contents. Re-save or re-train the model.");
            return new StoredTorchModel(method, version, config, weights);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{source} is truncated: the model file is damaged.");
        }
    }

    private static byte[] ReadBlock(BinaryReader r, string source, string what)
    {
        long length = r.ReadInt64();
        if (length < 0 || length > r.BaseStream.Length - r.BaseStream.Position)
            throw new InvalidDataException($"{source} is damaged: the {what} block claims {length} bytes.");
        return r.ReadBytes((int)length);
    }

    /// <summary>Writes the payload into the ML.NET model being saved.</summary>
    internal static void Save(ModelSaveContext ctx, byte[] payload) => ctx.SaveBinaryStream(EntryName, w => w.Write(payload));

    /// <summary>Reads the payload from the ML.NET model being loaded.</summary>
    internal static StoredTorchModel Load(ModelLoadContext ctx, string expectedMethod)
    {
        byte[]? bytes = null;
        if (!ctx.TryLoadBinaryStream(EntryName, r => bytes = r.ReadBytes((int)r.BaseStream.Length)) || bytes is null)
            throw new InvalidDataException($"The model has no {EntryName} entry for its '{expectedMethod}' transformer; the file is damaged or incomplete.");
        return Read(bytes, expectedMethod, $"{EntryName} in '{ctx.Directory}'");
    }
}

/// <summary>A verified payload: configuration bytes and the module's state dict bytes.</summary>
public sealed class StoredTorchModel
{
    private readonly byte[] _config;
    private readonly byte[] _weights;

    internal StoredTorchModel(string method, int version, byte[] config, byte[] weights)
    {
        Method = method;
        Version = version;
        _config = config;
        _weights = weights;
    }

    /// <summary>Method name written with the model.</summary>
    public string Method { get; }
    /// <summary>Payload format version.</summary>
    public int Version { get; }

    /// <summary>A reader positioned at the start of the configuration block.</summary>
    public BinaryReader OpenConfig() => new(new MemoryStream(_config, writable: false));

    /// <summary>Loads the stored weights into <paramref name="module"/> (which must have the same structure).</summary>
    public void LoadWeights(torch.nn.Module module)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(_weights, writable: false));
            module.load(r, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException)
        {
            throw new InvalidDataException($"The stored '{Method}' weights do not fit the model built from its configuration: {e.Message}", e);
        }
    }
}
