using System.IO.Compression;
using System.Runtime.InteropServices;

namespace MLNetExt;

/// <summary>
/// Compact binary form of a <see cref="TimingGraph"/> (gzip-compressed little-endian arrays), the dataset cache format:
/// building a large design takes seconds to minutes (OpenSTA), loading its cache file takes milliseconds.
/// </summary>
public static class TimingGraphFile
{
    private const string Magic = "MLNetExt.TimingGraph";
    private const int Version = 3; // 2: CellArcSense; 3: BuildRevision

    /// <summary>Writes <paramref name="graph"/> to <paramref name="path"/> (atomically: temp file, then rename).</summary>
    public static void Save(TimingGraph graph, string path)
    {
        var tmp = path + ".tmp";
        using (var file = File.Create(tmp))
        using (var zip = new GZipStream(file, CompressionLevel.Fastest))
        using (var w = new BinaryWriter(zip))
        {
            w.Write(Magic); w.Write(Version);
            w.Write(graph.Design); w.Write(graph.Technology); w.Write(graph.Units); w.Write(graph.LabelSource);
            w.Write(graph.PinNames.Length);
            foreach (var name in graph.PinNames) w.Write(name);
            foreach (var a in new[] { graph.NodeFeatures, graph.NetEdgeFeatures, graph.CellLutAxes, graph.CellLutValues, graph.CellLutMask,
                         graph.ArrivalTime, graph.Slew, graph.RequiredTime, graph.NetDelay, graph.CellDelay })
                Write(w, a);
            foreach (var a in new[] { graph.Levels, graph.NetSource, graph.NetTarget, graph.CellSource, graph.CellTarget }) Write(w, a);
            Write(w, graph.IsEndpoint.Select(b => b ? (byte)1 : (byte)0).ToArray());
            Write(w, graph.CellArcSense.Select(a => (byte)a).ToArray()); // format 2
            w.Write(graph.BuildRevision); // format 3
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a graph written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a timing-graph file of this version, or it is truncated.</exception>
    public static TimingGraph Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"timing graph file not found: {path}", path);
        try
        {
            using var file = File.OpenRead(path);
            using var zip = new GZipStream(file, CompressionMode.Decompress);
            using var r = new BinaryReader(zip);
            if (r.ReadString() != Magic) throw new InvalidDataException($"{path} is not a timing graph file");
            int version = r.ReadInt32();
            if (version is < 1 or > Version) throw new InvalidDataException($"{path} has timing graph format {version}; this version reads 1 to {Version}. Rebuild the dataset cache.");
            string design = r.ReadString(), tech = r.ReadString(), units = r.ReadString(), source = r.ReadString();
            var names = new string[r.ReadInt32()];
            for (int i = 0; i < names.Length; i++) names[i] = r.ReadString();
            var f = Enumerable.Range(0, 10).Select(_ => Read<float>(r)).ToArray();
            var n = Enumerable.Range(0, 5).Select(_ => Read<int>(r)).ToArray();
            var endpoints = Read<byte>(r).Select(b => b != 0).ToArray();
            // Format 1 has no arc senses: every arc reads as Unknown (either transition), as before.
            var senses = version >= 2 ? Read<byte>(r).Select(b => (TimingArcSense)b).ToArray() : [];
            int revision = version >= 3 ? r.ReadInt32() : 0;
            return new TimingGraph
            {
                Design = design, Technology = tech, Units = units, LabelSource = source, PinNames = names,
                NodeFeatures = f[0], NetEdgeFeatures = f[1], CellLutAxes = f[2], CellLutValues = f[3], CellLutMask = f[4],
                ArrivalTime = f[5], Slew = f[6], RequiredTime = f[7], NetDelay = f[8], CellDelay = f[9],
                Levels = n[0], NetSource = n[1], NetTarget = n[2], CellSource = n[3], CellTarget = n[4], IsEndpoint = endpoints,
                CellArcSense = senses, BuildRevision = revision,
            };
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path} is truncated; rebuild the dataset cache.", e);
        }
    }

    private static void Write<T>(BinaryWriter w, T[] a) where T : unmanaged
    {
        w.Write(a.Length);
        w.Write(MemoryMarshal.AsBytes(a.AsSpan()));
    }

    private static T[] Read<T>(BinaryReader r) where T : unmanaged
    {
        int n = r.ReadInt32();
        if (n < 0) throw new InvalidDataException("negative array length");
        var a = new T[n];
        var bytes = MemoryMarshal.AsBytes(a.AsSpan());
        int got = 0;
        while (got < bytes.Length) { int k = r.Read(bytes[got..]); if (k == 0) throw new EndOfStreamException(); got += k; }
        return a;
    }
}
