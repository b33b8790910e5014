using System.Security.Cryptography;
using Microsoft.ML;
using TorchSharp;

namespace MLNetExt;

/// <summary>
/// The bytes of a trained TorchSharp model as stored inside the ML.NET model zip (entry <see cref="EntryName"/>):
/// magic, format version, method name, the SHA-256 of the method's configuration, the name, element type and shape
/// of every tensor of the module's state dict, the configuration, the state dict, and a SHA-256 over all of it, so an
/// unknown version, a damaged file or weights that do not fit the network fail with a message that says which.
/// </summary>
/// <remarks>
/// Format 1 (MLNetExt before payload identities) stored the configuration and state dict without the hash and the
/// tensor list; it is still read, and its tensors are then checked by TorchSharp alone.
/// </remarks>
public static class TorchModelPayload
{
    /// <summary>Name of the zip entry holding the payload, beside the transformer's ML.NET model stream.</summary>
    public const string EntryName = "TorchModel.bin";
    /// <summary>Newest payload format this version writes and reads.</summary>
    public const int FormatVersion = 2;
    private static readonly byte[] Magic = "MLNXTRCH"u8.ToArray();
    private const int HashBytes = 32;

    /// <summary>Serialises a method name, its configuration (written by <paramref name="writeConfig"/>) and <paramref name="module"/>'s weights.</summary>
    public static byte[] Create(string methodName, Action<BinaryWriter> writeConfig, torch.nn.Module module)
    {
        var config = new MemoryStream();
        using (var w = new BinaryWriter(config, System.Text.Encoding.UTF8, leaveOpen: true)) writeConfig(w);
        var weights = new MemoryStream();
        using (var w = new BinaryWriter(weights, System.Text.Encoding.UTF8, leaveOpen: true)) module.save(w);
        var configBytes = config.GetBuffer().AsSpan(0, (int)config.Length);
        var output = new MemoryStream();
        using (var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(FormatVersion);
            w.Write(methodName);
            w.Write(SHA256.HashData(configBytes));
            PayloadTensor.WriteList(w, PayloadTensor.Of(module));
            w.Write((long)configBytes.Length);
            w.Write(configBytes);
            w.Write(weights.Length);
            w.Write(weights.GetBuffer(), 0, (int)weights.Length);
        }
        output.Write(SHA256.HashData(output.GetBuffer().AsSpan(0, (int)output.Length)));
        return output.ToArray();
    }

    /// <summary>Parses and verifies payload bytes written by <see cref="Create"/> (any method when <paramref name="expectedMethod"/> is null).</summary>
    /// <exception cref="ModelFormatException">Not a payload, a newer format, another method, or damaged bytes.</exception>
    public static StoredTorchModel Read(byte[] bytes, string? expectedMethod, string source = EntryName)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false));
            var magic = r.ReadBytes(Magic.Length);
            if (!magic.AsSpan().SequenceEqual(Magic))
                throw new ModelFormatException(source, "not an MLNetExt TorchSharp model (bad header); the model file is damaged or not ours.");
            int version = r.ReadInt32();
            if (version < 1 || version > FormatVersion)
                throw new ModelFormatException(source, $"uses model format version {version}, but this MLNetExt reads versions 1 to {FormatVersion}. " +
                    "Update the MLNetExt package to load it.");
            string method = r.ReadString();
            if (expectedMethod != null && method != expectedMethod)
                throw new ModelFormatException(source, $"holds a '{method}' model, not '{expectedMethod}'.", expectedMethod);
            return version == 1 ? ReadVersion1(r, bytes, method, source) : ReadVersion2(r, bytes, method, source);
        }
        catch (EndOfStreamException)
        {
            throw new ModelFormatException(source, "is truncated: the model file is damaged.");
        }
    }

    private static StoredTorchModel ReadVersion1(BinaryReader r, byte[] bytes, string method, string source)
    {
        var config = ReadBlock(r, source, "configuration");
        var weights = ReadBlock(r, source, "weights");
        var hash = r.ReadBytes(HashBytes);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(config);
        sha.AppendData(weights);
        if (hash.Length != HashBytes || !hash.AsSpan().SequenceEqual(sha.GetHashAndReset()))
            throw Damaged(source);
        var identity = new PayloadIdentity(method, Convert.ToHexString(SHA256.HashData(config)), null, Convert.ToHexString(hash));
        return new StoredTorchModel(identity, 1, config, weights, source);
    }

    private static StoredTorchModel ReadVersion2(BinaryReader r, byte[] bytes, string method, string source)
    {
        // The checksum covers every byte before it; check it first so a damaged list or length is reported as damage.
        if (bytes.Length < HashBytes || !SHA256.HashData(bytes.AsSpan(0, bytes.Length - HashBytes)).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - HashBytes)))
            throw Damaged(source);
        var configHash = r.ReadBytes(HashBytes);
        var tensors = PayloadTensor.ReadList(r, source);
        var config = ReadBlock(r, source, "configuration");
        var weights = ReadBlock(r, source, "weights");
        if (r.BaseStream.Position != bytes.Length - HashBytes)
            throw new ModelFormatException(source, "is damaged: its blocks do not end where its checksum starts.");
        if (!SHA256.HashData(config).AsSpan().SequenceEqual(configHash))
            throw new ModelFormatException(source, "is damaged: its configuration does not match the configuration hash it records.");
        var identity = new PayloadIdentity(method, Convert.ToHexString(configHash), tensors, Convert.ToHexString(bytes.AsSpan(bytes.Length - HashBytes)));
        return new StoredTorchModel(identity, 2, config, weights, source);
    }

    private static ModelFormatException Damaged(string source)
        => new(source, "is damaged: its SHA-256 checksum does not match its contents. Re-save or re-train the model.");

    private static byte[] ReadBlock(BinaryReader r, string source, string what)
    {
        long length = r.ReadInt64();
        if (length < 0 || length > r.BaseStream.Length - r.BaseStream.Position)
            throw new ModelFormatException(source, $"is damaged: the {what} block claims {length} bytes.");
        return r.ReadBytes((int)length);
    }

    /// <summary>Writes the payload into the ML.NET model being saved.</summary>
    internal static void Save(ModelSaveContext ctx, byte[] payload) => ctx.SaveBinaryStream(EntryName, w => w.Write(payload));

    /// <summary>Name of the payload entry of the ML.NET model being loaded, as the zip lists it.</summary>
    internal static string EntryPath(ModelLoadContext ctx) => string.IsNullOrEmpty(ctx.Directory) ? EntryName : $"{ctx.Directory}/{EntryName}";

    /// <summary>Reads the payload bytes from the ML.NET model being loaded.</summary>
    internal static byte[] LoadBytes(ModelLoadContext ctx, string expectedMethod)
    {
        byte[]? bytes = null;
        if (!ctx.TryLoadBinaryStream(EntryName, r => bytes = r.ReadBytes((int)r.BaseStream.Length)) || bytes is null)
            throw new ModelFormatException(EntryPath(ctx), $"is missing: the '{expectedMethod}' transformer's weights are not in the model; the file is damaged or incomplete.");
        return bytes;
    }
}

/// <summary>One tensor of a module's state dict as a payload records it.</summary>
/// <param name="Name">State dict key (for example <c>layers.0.weight</c>).</param>
/// <param name="Type">Element type (for example <c>Float32</c>).</param>
/// <param name="Shape">Dimensions.</param>
public sealed record PayloadTensor(string Name, string Type, IReadOnlyList<long> Shape)
{
    private const int MaxTensors = 1_000_000, MaxRank = 16;

    /// <summary><c>name Type[d0, d1]</c>.</summary>
    public override string ToString() => $"{Name} {Type}[{string.Join(", ", Shape)}]";

    /// <summary>True when name, type and shape are the same.</summary>
    public bool Equals(PayloadTensor? other) => other is not null && Name == other.Name && Type == other.Type && Shape.SequenceEqual(other.Shape);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Name, Type, Shape.Count);

    /// <summary>The state dict of <paramref name="module"/> in the order TorchSharp saves it.</summary>
    public static IReadOnlyList<PayloadTensor> Of(torch.nn.Module module)
        => module.state_dict().Select(p => new PayloadTensor(p.Key, p.Value.dtype.ToString(), p.Value.shape.ToArray())).ToList();

    internal static void WriteList(BinaryWriter w, IReadOnlyList<PayloadTensor> tensors)
    {
        w.Write(tensors.Count);
        foreach (var t in tensors)
        {
            w.Write(t.Name);
            w.Write(t.Type);
            w.Write(t.Shape.Count);
            foreach (var d in t.Shape) w.Write(d);
        }
    }

    internal static IReadOnlyList<PayloadTensor> ReadList(BinaryReader r, string source)
    {
        int count = r.ReadInt32();
        if (count < 0 || count > MaxTensors) throw new ModelFormatException(source, $"is damaged: it claims {count} tensors.");
        var list = new List<PayloadTensor>(Math.Min(count, 4096));
        for (int i = 0; i < count; i++)
        {
            string name = r.ReadString(), type = r.ReadString();
            int rank = r.ReadInt32();
            if (rank < 0 || rank > MaxRank) throw new ModelFormatException(source, $"is damaged: tensor '{name}' claims rank {rank}.");
            list.Add(new PayloadTensor(name, type, Enumerable.Range(0, rank).Select(_ => r.ReadInt64()).ToArray()));
        }
        return list;
    }

    /// <summary>
    /// The first difference between <paramref name="expected"/> and <paramref name="found"/> as
    /// "expected …, found …", or null when they are the same.
    /// </summary>
    internal static string? Difference(IReadOnlyList<PayloadTensor> expected, IReadOnlyList<PayloadTensor> found)
    {
        for (int i = 0; i < Math.Min(expected.Count, found.Count); i++)
            if (!expected[i].Equals(found[i]))
                return $"tensor {i + 1} expected {expected[i]}, found {found[i]}";
        if (expected.Count != found.Count)
            return $"expected {expected.Count} tensors, found {found.Count}" +
                (expected.Count > found.Count ? $" (missing {expected[found.Count]})" : $" (extra {found[expected.Count]})");
        return null;
    }
}

/// <summary>
/// What a payload belongs to: the method, the SHA-256 of its configuration, its tensors, and the checksum of the
/// whole payload (which differs between two trainings of the same architecture).
/// </summary>
/// <param name="Method">Method name.</param>
/// <param name="ConfigHash">SHA-256 of the configuration block, hex.</param>
/// <param name="Tensors">The state dict's tensors; null for a format 1 payload, which does not record them.</param>
/// <param name="Checksum">SHA-256 checksum of the payload, hex.</param>
public sealed record PayloadIdentity(string Method, string ConfigHash, IReadOnlyList<PayloadTensor>? Tensors, string Checksum)
{
    internal void Write(BinaryWriter w)
    {
        w.Write(Method);
        w.Write(ConfigHash);
        PayloadTensor.WriteList(w, Tensors ?? Array.Empty<PayloadTensor>());
        w.Write(Checksum);
    }

    internal static PayloadIdentity Read(BinaryReader r, string source)
        => new(r.ReadString(), r.ReadString(), PayloadTensor.ReadList(r, source), r.ReadString());

    /// <summary>How <paramref name="found"/> differs from this identity ("expected …, found …"), or null when it is the same payload.</summary>
    public string? Difference(PayloadIdentity found)
    {
        if (found.Method != Method) return $"method expected '{Method}', found '{found.Method}'";
        if (found.Tensors is null) return "expected a payload recording its tensors, found a format 1 payload that records none";
        if (PayloadTensor.Difference(Tensors ?? Array.Empty<PayloadTensor>(), found.Tensors) is { } tensors) return tensors;
        if (found.ConfigHash != ConfigHash) return $"configuration SHA-256 expected {Short(ConfigHash)}, found {Short(found.ConfigHash)}";
        if (found.Checksum != Checksum)
            return $"payload SHA-256 expected {Short(Checksum)}, found {Short(found.Checksum)} (same architecture and configuration, other weights)";
        return null;
    }

    private static string Short(string hex) => hex.Length > 16 ? hex[..16] + "…" : hex;
}

/// <summary>A verified payload: what it belongs to, its configuration bytes and the module's state dict bytes.</summary>
public sealed class StoredTorchModel
{
    private readonly byte[] _config;
    private readonly byte[] _weights;
    private readonly string _source;

    internal StoredTorchModel(PayloadIdentity identity, int version, byte[] config, byte[] weights, string source)
    {
        Identity = identity;
        Version = version;
        _config = config;
        _weights = weights;
        _source = source;
    }

    /// <summary>Method name written with the model.</summary>
    public string Method => Identity.Method;
    /// <summary>Payload format version.</summary>
    public int Version { get; }
    /// <summary>What the payload belongs to.</summary>
    public PayloadIdentity Identity { get; }

    /// <summary>A reader positioned at the start of the configuration block.</summary>
    public BinaryReader OpenConfig() => new(new MemoryStream(_config, writable: false));

    /// <summary>Loads the stored weights into <paramref name="module"/> (which must have the same tensors).</summary>
    /// <exception cref="ModelFormatException">The module built from the configuration has other tensors than the payload records.</exception>
    public void LoadWeights(torch.nn.Module module)
    {
        if (Identity.Tensors is { } stored && PayloadTensor.Difference(PayloadTensor.Of(module), stored) is { } difference)
            throw new ModelFormatException(_source, $"does not fit the '{Method}' network built from its configuration: {difference}. " +
                "The model file was altered; save the model again from the trained transformer.");
        try
        {
            using var r = new BinaryReader(new MemoryStream(_weights, writable: false));
            module.load(r, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException)
        {
            throw new ModelFormatException(_source, $"holds '{Method}' weights that do not fit the network built from its configuration: {e.Message}", inner: e);
        }
    }
}
