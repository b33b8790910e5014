using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MLNetExt.Fuzz;

/// <summary>How one mutated input was handled.</summary>
public enum FuzzOutcome
{
    /// <summary>Refused with the format's own exception, naming the file.</summary>
    Clear,
    /// <summary>Read, and the oracle found the result right (e.g. equal to the unmutated file's, or all numbers finite).</summary>
    Accepted,
    /// <summary>Any other exception (IndexOutOfRange, NullReference, a bare FormatException, …).</summary>
    Crash,
    /// <summary>Read without error but the oracle found the result wrong.</summary>
    Silent,
    /// <summary>More than the memory limit allocated, or OutOfMemory / InsufficientExecutionStack.</summary>
    Memory,
    /// <summary>Still running after the time limit.</summary>
    Hang,
    /// <summary>
    /// A truncation exactly at a record boundary of a format with no end marker or record count (CSV, JSONL), read as the
    /// shorter valid file it is (its result is a prefix of the original's). No reader can tell this from a shorter file.
    /// </summary>
    Prefix,
}

/// <summary>The mutations applied to real inputs.</summary>
public enum Mutation
{
    /// <summary>Cut at a random byte; must fail or give the untruncated result.</summary>
    Truncate,
    /// <summary>Delete a random line.</summary>
    DeleteLine,
    /// <summary>Duplicate a random line.</summary>
    DuplicateLine,
    /// <summary>Duplicate a whole named item (cell, component, *D_NET, instance, row, conversation, image); must fail.</summary>
    DuplicateItem,
    /// <summary>Swap two random tokens.</summary>
    SwapTokens,
    /// <summary>Overwrite 1–8 random bytes.</summary>
    RandomBytes,
    /// <summary>Replace a number with a huge one (1e400, 2^63, …); accepted results must hold only finite numbers.</summary>
    HugeNumber,
    /// <summary>Replace a number with NaN / Infinity / inf; accepted results must hold only finite numbers.</summary>
    NonFinite,
    /// <summary>Delete one brace or parenthesis (or insert a quote in CSV); must fail or give the original result where the format nests.</summary>
    UnbalancedBraces,
    /// <summary>An empty file; must fail.</summary>
    Empty,
    /// <summary>The input gzip-compressed and damaged (cut at a flush point, cut trailer, flipped byte, bad method); must fail or be unchanged.</summary>
    BadGzip,
    /// <summary>Tens of thousands of nested groups, brackets or parentheses inserted.</summary>
    DeepNesting,
}

/// <summary>One mutated input and what happened to it.</summary>
public sealed record FuzzCase(string Format, int Index, Mutation Mutation, FuzzOutcome Outcome, string Detail, double Seconds, long AllocatedBytes);

/// <summary>An accepted result holds a NaN or infinite number: always a silent wrong result.</summary>
public sealed class NonFiniteResultException(string where) : Exception($"the result holds a non-finite number ({where})");

/// <summary>
/// A format under test: a real input (uncompressed bytes), how to read a file of it into a canonical fingerprint (text
/// that two equal results share), and which exception family is its "clear error".
/// </summary>
public sealed class FuzzFormat
{
    /// <summary>Format name for the report.</summary>
    public required string Name { get; init; }
    /// <summary>File name the mutated input is written under (its extension selects the reader's behaviour).</summary>
    public required string FileName { get; init; }
    /// <summary>The unmutated input.</summary>
    public required byte[] Original { get; init; }
    /// <summary>Reads a file into its fingerprint; throws on bad input.</summary>
    public required Func<string, string> Read { get; init; }
    /// <summary>The exception family a clear error belongs to.</summary>
    public required Type Family { get; init; }
    /// <summary>Binary (IDX) rather than text.</summary>
    public bool Binary { get; init; }
    /// <summary>Spans of whole named items (for <see cref="Mutation.DuplicateItem"/>).</summary>
    public Func<string, List<(int Start, int Length)>>? Items { get; init; }
    /// <summary>Whether braces/parentheses nest in this format (an unbalanced one must fail or change nothing).</summary>
    public bool Nests { get; init; }
    /// <summary>Text inserted by <see cref="Mutation.DeepNesting"/>.</summary>
    public string DeepNesting { get; init; } = new string('(', 50_000);
    /// <summary>Whether the deep nesting must be refused (or change nothing, inside a comment).</summary>
    public bool DeepNestingMustFail { get; init; }
    /// <summary>The brackets that nest in this format (one is deleted by <see cref="Mutation.UnbalancedBraces"/>).</summary>
    public string Braces { get; init; } = "()";
    /// <summary>Records end with a line break and nothing marks the end of the file or counts the records (CSV, JSONL).</summary>
    public bool RecordsWithoutEnd { get; init; }
}

/// <summary>
/// A seeded mutation fuzzer over real inputs of every reader (Liberty, Verilog, DEF, SPEF, CircuitOps CSV, PragWorld
/// JSONL, IDX). Each case runs on its own thread with a time and allocation limit and is classified against an oracle:
/// a truncation or damaged gzip must fail or give exactly the unmutated result, an empty file or duplicated item must
/// fail, and every accepted result must hold only finite numbers.
/// </summary>
public sealed class ReaderFuzzer(string workDirectory, TimeSpan? timeLimit = null, long memoryLimitBytes = 256L << 20)
{
    private readonly TimeSpan _timeLimit = timeLimit ?? TimeSpan.FromSeconds(10);
    private readonly Dictionary<string, string> _baselines = new();

    /// <summary>Every mutation kind, in the order cases cycle through them.</summary>
    public static readonly Mutation[] Mutations = Enum.GetValues<Mutation>();

    /// <summary>Runs <paramref name="count"/> cases of <paramref name="format"/> with seeds <paramref name="seed"/>, seed+1, ….</summary>
    public List<FuzzCase> Run(FuzzFormat format, int count, int seed)
    {
        var baseline = Baseline(format);
        var cases = new List<FuzzCase>(count);
        for (int i = 0; i < count; i++)
        {
            var rng = new Random(seed + i);
            var mutation = Mutations[i % Mutations.Length];
            var (bytes, fileName, expect) = Mutate(format, mutation, rng);
            cases.Add(RunCase(format, i, mutation, bytes, fileName, expect, baseline));
        }
        return cases;
    }

    /// <summary>The fingerprint of the unmutated input (it must read).</summary>
    public string Baseline(FuzzFormat format)
    {
        if (_baselines.TryGetValue(format.Name, out var b)) return b;
        var path = Path.Combine(workDirectory, format.FileName);
        File.WriteAllBytes(path, format.Original);
        return _baselines[format.Name] = format.Read(path);
    }

    private enum Expect { FailOrEqual, MustFail, Any }

    private FuzzCase RunCase(FuzzFormat format, int index, Mutation mutation, byte[] bytes, string fileName, Expect expect, string baseline)
    {
        var dir = Path.Combine(workDirectory, $"{format.Name}-{index}");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, fileName);
        File.WriteAllBytes(path, bytes);
        string? result = null;
        Exception? error = null;
        long allocated = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { result = format.Read(path); }
            catch (Exception e) { error = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 64 << 20) { IsBackground = true, Name = $"fuzz {format.Name} {index}" };
        thread.Start();
        bool finished = thread.Join(_timeLimit);
        double seconds = watch.Elapsed.TotalSeconds;
        FuzzCase Done(FuzzOutcome outcome, string detail)
        {
            if (finished) Directory.Delete(dir, recursive: true);
            return new FuzzCase(format.Name, index, mutation, outcome, detail, seconds, allocated);
        }
        if (!finished) return Done(FuzzOutcome.Hang, $"still running after {_timeLimit.TotalSeconds:F0} s");
        if (allocated > memoryLimitBytes) return Done(FuzzOutcome.Memory, $"allocated {allocated / (1 << 20):N0} MB");
        if (error is OutOfMemoryException or InsufficientExecutionStackException) return Done(FuzzOutcome.Memory, error.GetType().Name);
        if (error is NonFiniteResultException) return Done(FuzzOutcome.Silent, error.Message);
        if (error is not null)
        {
            bool clear = format.Family.IsInstanceOfType(error) && error is InputFormatException ie
                && (ie.File == fileName || ie.File == path) && error.Message.StartsWith(ie.File, StringComparison.Ordinal);
            return Done(clear ? FuzzOutcome.Clear : FuzzOutcome.Crash, $"{error.GetType().Name}: {Clip(error.Message)}");
        }
        return expect switch
        {
            Expect.MustFail => Done(FuzzOutcome.Silent, "accepted, but this mutation must be refused"),
            Expect.FailOrEqual when result != baseline && mutation == Mutation.Truncate && format.RecordsWithoutEnd
                && bytes.Length > 0 && bytes[^1] == '\n' && baseline.StartsWith(result!, StringComparison.Ordinal)
                => Done(FuzzOutcome.Prefix, $"cut after a complete record at byte {bytes.Length:N0}"),
            Expect.FailOrEqual when result != baseline => Done(FuzzOutcome.Silent, "accepted with a result that differs from the unmutated input's"),
            _ => Done(FuzzOutcome.Accepted, result == baseline ? "same result" : "accepted (valid variant)"),
        };
    }

    private static string Clip(string s) => s.Length <= 200 ? s : s[..197] + "...";

    private static readonly Regex NumberToken = new(@"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w.])", RegexOptions.Compiled);
    private static readonly Regex Token = new(@"\S+", RegexOptions.Compiled);
    private static readonly string[] Huge = ["1e400", "-1e400", "99999999999999999999", "2147483648", "9223372036854775808", "1e308", "-2147483649"];
    private static readonly string[] NonFinite = ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e400"];

    private static (byte[] Bytes, string FileName, Expect Expect) Mutate(FuzzFormat f, Mutation m, Random rng)
    {
        var original = f.Original;
        string text = f.Binary ? "" : Encoding.UTF8.GetString(original);
        (byte[], string, Expect) Text(string t, Expect e) => (Encoding.UTF8.GetBytes(t), f.FileName, e);
        (byte[], string, Expect) Bytes(byte[] b, Expect e) => (b, f.FileName, e);
        switch (m)
        {
            case Mutation.Truncate:
                return Bytes(original[..rng.Next(0, original.Length)], Expect.FailOrEqual);
            case Mutation.Empty:
                return Bytes(Array.Empty<byte>(), Expect.MustFail);
            case Mutation.RandomBytes:
            {
                var b = (byte[])original.Clone();
                int n = rng.Next(1, 9);
                for (int k = 0; k < n; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return Bytes(b, Expect.Any);
            }
            case Mutation.BadGzip:
                return (BadGzip(original, rng), f.FileName + ".gz", Expect.FailOrEqual);
        }
        if (f.Binary) return MutateBinary(f, m, rng);
        var lines = SplitLines(text);
        switch (m)
        {
            case Mutation.DeleteLine:
            {
                int k = rng.Next(lines.Count);
                lines.RemoveAt(k);
                return Text(string.Concat(lines), Expect.Any);
            }
            case Mutation.DuplicateLine:
            {
                int k = rng.Next(lines.Count);
                lines.Insert(k, lines[k].EndsWith('\n') ? lines[k] : lines[k] + "\n");
                return Text(string.Concat(lines), Expect.Any);
            }
            case Mutation.DuplicateItem:
            {
                var items = f.Items?.Invoke(text) ?? new();
                if (items.Count == 0) return Mutate(f, Mutation.DuplicateLine, rng); // a format without named items
                var (start, length) = items[rng.Next(items.Count)];
                return Text(text.Insert(start + length, text.Substring(start, length)), Expect.MustFail);
            }
            case Mutation.SwapTokens:
            {
                var tokens = Token.Matches(text);
                var a = tokens[rng.Next(tokens.Count)];
                var b = tokens[rng.Next(tokens.Count)];
                if (a.Index > b.Index) (a, b) = (b, a);
                if (a.Index == b.Index) return Text(text, Expect.FailOrEqual);
                var swapped = text[..a.Index] + b.Value + text[(a.Index + a.Length)..b.Index] + a.Value + text[(b.Index + b.Length)..];
                return Text(swapped, Expect.Any);
            }
            case Mutation.HugeNumber or Mutation.NonFinite:
            {
                var numbers = NumberToken.Matches(text);
                if (numbers.Count == 0) numbers = Token.Matches(text); // no numbers (JSONL): put one where a value was
                var pick = numbers[rng.Next(numbers.Count)];
                var by = m == Mutation.HugeNumber ? Huge[rng.Next(Huge.Length)] : NonFinite[rng.Next(NonFinite.Length)];
                return Text(text[..pick.Index] + by + text[(pick.Index + pick.Length)..], Expect.Any);
            }
            case Mutation.UnbalancedBraces:
            {
                if (!f.Nests)
                {
                    int at = rng.Next(text.Length);
                    return Text(text.Insert(at, "\""), Expect.Any);
                }
                var positions = Enumerable.Range(0, text.Length).Where(k => f.Braces.Contains(text[k])).ToList();
                int p = positions[rng.Next(positions.Count)];
                return Text(text.Remove(p, 1), Expect.FailOrEqual);
            }
            case Mutation.DeepNesting:
            {
                int k = rng.Next(lines.Count + 1);
                lines.Insert(k, f.DeepNesting + "\n");
                // Where nesting is limited it must be refused, unless it landed where it means nothing (a comment).
                return Text(string.Concat(lines), f.DeepNestingMustFail ? Expect.FailOrEqual : Expect.Any);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(m), m, null);
    }

    // IDX: line and token mutations act on the header fields and the image records instead.
    private static (byte[], string, Expect) MutateBinary(FuzzFormat f, Mutation m, Random rng)
    {
        var b = (byte[])f.Original.Clone();
        int header = BitConverter.ToInt32(b.AsSpan(0, 4)) == 0x03080000 ? 16 : 8;
        int record = header == 16 ? 28 * 28 : 1;
        void Field(int offset, uint value) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(offset, 4), value);
        switch (m)
        {
            case Mutation.HugeNumber or Mutation.NonFinite or Mutation.SwapTokens or Mutation.UnbalancedBraces or Mutation.DeepNesting:
            {
                uint[] values = [0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 65536, 0, 1u << 20, (uint)rng.Next()];
                Field(4 * rng.Next(1, header / 4), values[rng.Next(values.Length)]);
                return (b, f.FileName, Expect.FailOrEqual);
            }
            case Mutation.DeleteLine:
            {
                int k = rng.Next((b.Length - header) / record);
                var cut = b[..(header + k * record)].Concat(b[(header + (k + 1) * record)..]).ToArray();
                return (cut, f.FileName, Expect.MustFail);
            }
            case Mutation.DuplicateLine or Mutation.DuplicateItem:
            {
                int k = rng.Next((b.Length - header) / record);
                var rec = b[(header + k * record)..(header + (k + 1) * record)];
                return (b.Concat(rec).ToArray(), f.FileName, Expect.MustFail);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(m), m, null);
    }

    private static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') { lines.Add(text[start..(i + 1)]); start = i + 1; }
        if (start < text.Length) lines.Add(text[start..]);
        if (lines.Count == 0) lines.Add("");
        return lines;
    }

    // Gzip-compresses the data with a flush point in the middle, then damages the stream in one of several ways.
    private static byte[] BadGzip(byte[] data, Random rng)
    {
        var ms = new MemoryStream();
        long flushAt;
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            int half = data.Length / 2;
            gz.Write(data, 0, half);
            gz.Flush();
            flushAt = ms.Length;
            gz.Write(data, half, data.Length - half);
        }
        var z = ms.ToArray();
        switch (rng.Next(6))
        {
            case 0: return z[..(int)flushAt];                                        // cut at the flush point: inflates cleanly
            case 1: return z[..^rng.Next(1, 9)];                                     // trailer cut
            case 2: z[rng.Next(10, z.Length - 8)] ^= (byte)(1 << rng.Next(8)); return z; // flipped bit in the deflate data
            case 3: z[z.Length - rng.Next(1, 9)] ^= 0xFF; return z;                  // damaged CRC or length
            case 4: z[2] = (byte)rng.Next(9, 256); return z;                          // unknown compression method
            default: return z[..rng.Next(0, Math.Min(18, z.Length))];               // header only
        }
    }

    // ---- fingerprints ----

    /// <summary>Canonical text of results, refusing non-finite numbers.</summary>
    public sealed class Fingerprint
    {
        private readonly StringBuilder _sb = new();

        /// <summary>Appends text.</summary>
        public Fingerprint Add(string? text)
        {
            _sb.Append(text).Append('|');
            return this;
        }

        /// <summary>Appends a number (round-trip format); a non-finite one throws <see cref="NonFiniteResultException"/>.</summary>
        public Fingerprint Add(double value, string where)
        {
            if (!double.IsFinite(value)) throw new NonFiniteResultException(where);
            _sb.Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('|');
            return this;
        }

        /// <summary>Appends integers.</summary>
        public Fingerprint Add(params long[] values)
        {
            foreach (var v in values) _sb.Append(v).Append('|');
            return this;
        }

        /// <inheritdoc/>
        public override string ToString() => _sb.ToString();
    }

    /// <summary>Liberty: units, and every cell's area, pins, capacitances and timing tables.</summary>
    public static string LibertyFingerprint(string path)
    {
        var lib = LibertyParser.ReadLibrary(path);
        var f = new Fingerprint().Add(lib.Name).Add(lib.TimeUnitSeconds, "time unit").Add(lib.CapacitanceUnitFarads, "capacitance unit");
        foreach (var cell in lib.Cells.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            f.Add(cell.Name).Add(cell.Area, cell.Name).Add(cell.IsSequential ? "seq" : "comb").Add(cell.IsLatch ? "latch" : "");
            foreach (var pin in cell.Pins.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
            {
                f.Add(pin.Name).Add(pin.Direction).Add(pin.Capacitance, pin.Name).Add(pin.RiseCapacitance, pin.Name).Add(pin.FallCapacitance, pin.Name).Add(pin.IsClock ? "clk" : "");
                foreach (var arc in pin.Timing)
                {
                    f.Add(arc.RelatedPin).Add(arc.TimingType).Add(arc.TimingSense);
                    foreach (var (kind, table) in arc.Tables.OrderBy(t => t.Key, StringComparer.Ordinal))
                    {
                        f.Add(kind);
                        foreach (var v in table.Index1.Concat(table.Index2).Concat(table.Values)) f.Add(v, $"{cell.Name}/{pin.Name} {kind}");
                    }
                }
            }
        }
        return f.ToString();
    }

    /// <summary>Verilog: module, ports, instances with connections, assigns.</summary>
    public static string VerilogFingerprint(string path)
    {
        var m = VerilogNetlistReader.Read(path);
        var f = new Fingerprint().Add(m.Name);
        foreach (var p in m.Ports) f.Add(p.Name).Add(p.Direction.ToString());
        foreach (var i in m.Instances)
        {
            f.Add(i.CellType).Add(i.Name);
            foreach (var (pin, net) in i.Connections.OrderBy(c => c.Key, StringComparer.Ordinal)) f.Add(pin).Add(net);
        }
        foreach (var (t, s) in m.Assigns) f.Add(t).Add(s);
        return f.ToString();
    }

    /// <summary>DEF: units, die, components, pins, nets with connections and routes, via layers.</summary>
    public static string DefFingerprint(string path)
    {
        var d = DefReader.Read(path);
        var f = new Fingerprint().Add(d.Name).Add(d.DatabaseUnitsPerMicron, d.DieArea.X0, d.DieArea.Y0, d.DieArea.X1, d.DieArea.Y1);
        foreach (var c in d.Components.Values.OrderBy(c => c.Name, StringComparer.Ordinal)) f.Add(c.ToString());
        foreach (var p in d.Pins.Values.OrderBy(p => p.Name, StringComparer.Ordinal)) f.Add(p.ToString());
        foreach (var n in d.Nets.Values.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            f.Add(n.Name);
            foreach (var (i, p) in n.Connections) f.Add(i).Add(p);
            foreach (var r in n.Routes) f.Add(r.ToString());
        }
        foreach (var (via, (bottom, top)) in (d.ViaLayers ?? new Dictionary<string, (string, string)>()).OrderBy(v => v.Key, StringComparer.Ordinal)) f.Add(via).Add(bottom).Add(top);
        return f.ToString();
    }

    /// <summary>SPEF: units and every net's connections and parasitics; <paramref name="requiredNets"/> must all be present.</summary>
    public static string SpefFingerprint(string path, IReadOnlyCollection<string>? requiredNets)
    {
        var s = SpefReader.Read(path, requiredNets);
        var f = new Fingerprint().Add(s.Name).Add(s.TimeUnitSeconds, "T_UNIT").Add(s.CapacitanceUnitFarads, "C_UNIT").Add(s.ResistanceUnitOhms, "R_UNIT");
        foreach (var n in s.Nets.Values.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            f.Add(n.Name).Add(n.TotalCapacitance, n.Name);
            foreach (var (node, dir, cell) in n.Connections) f.Add(node).Add(dir).Add(cell);
            foreach (var (node, v) in n.GroundCaps) f.Add(node).Add(v, n.Name);
            foreach (var (a, b, v) in n.CouplingCaps) f.Add(a).Add(b).Add(v, n.Name);
            foreach (var (a, b, v) in n.Resistors) f.Add(a).Add(b).Add(v, n.Name);
        }
        return f.ToString();
    }

    /// <summary>CircuitOps CSV: header, every field, and every numeric column of the schema as a number.</summary>
    public static string CsvFingerprint(string path)
    {
        var t = CsvTable.Read(path);
        var f = new Fingerprint();
        foreach (var c in t.Columns) f.Add(c);
        var numeric = new HashSet<string>(t.Schema?.Numeric ?? Array.Empty<string>(), StringComparer.Ordinal);
        var optional = new HashSet<string>(t.Schema?.Optional ?? Array.Empty<string>(), StringComparer.Ordinal);
        for (int r = 0; r < t.Count; r++)
            foreach (var c in t.Columns)
            {
                if (!numeric.Contains(c)) f.Add(t.Text(r, c));
                else if (optional.Contains(c) && double.IsNaN(t.Number(r, c))) f.Add("n/a");
                else f.Add(t.Number(r, c), $"row {r} {c}");
            }
        return f.ToString();
    }

    /// <summary>PragWorld JSONL: the conversations written back.</summary>
    public static string JsonlFingerprint(string path)
    {
        var w = new StringWriter();
        PragWorldJsonl.Write(w, PragWorldJsonl.Load(path).ToList());
        return w.ToString();
    }

    /// <summary>IDX images: the dimensions and a hash of the pixels.</summary>
    public static string IdxFingerprint(string path)
    {
        var images = IdxReader.ReadImages(path);
        return new Fingerprint().Add(images.Count, images.Rows, images.Columns).Add(Convert.ToHexString(SHA256.HashData(images.Pixels))).ToString();
    }

    // ---- the formats over real inputs ----

    /// <summary>The repository root (the folder holding MLNetExt.sln) above <paramref name="start"/>.</summary>
    public static string? RepositoryRoot(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) dir = dir.Parent;
        return dir?.FullName;
    }

    /// <summary>The shared circuit data beside the repository (may not exist).</summary>
    public static string SharedCircuits(string start) =>
        Path.Combine(Path.GetDirectoryName(RepositoryRoot(start) ?? "/work/x") ?? "/work", "shared", "data", "circuits");

    private static byte[] Decompressed(string path)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Encoding.UTF8.GetBytes(reader.ReadToEnd());
    }

    private static List<(int, int)> Spans(string text, Regex start, Func<string, int, int> end)
    {
        var spans = new List<(int, int)>();
        foreach (Match m in start.Matches(text))
        {
            int e = end(text, m.Index);
            if (e > m.Index) spans.Add((m.Index, e - m.Index));
        }
        return spans;
    }

    // The end of a brace-delimited block starting at or after `from` (just past its closing brace and line end).
    private static int BlockEnd(string text, int from)
    {
        int open = text.IndexOf('{', from);
        if (open < 0) return -1;
        int depth = 0;
        for (int i = open; i < text.Length; i++)
        {
            if (text[i] == '{') depth++;
            else if (text[i] == '}' && --depth == 0)
            {
                int nl = text.IndexOf('\n', i);
                return nl < 0 ? text.Length : nl + 1;
            }
        }
        return -1;
    }

    private static int LineEnd(string text, int from, string terminator)
    {
        int t = text.IndexOf(terminator, from, StringComparison.Ordinal);
        if (t < 0) return -1;
        int nl = text.IndexOf('\n', t);
        return nl < 0 ? text.Length : nl + 1;
    }

    /// <summary>
    /// The formats over the shared circuit files in <paramref name="sharedCircuits"/> (skipped when absent) and the
    /// checked-in or generated samples of the other formats under <paramref name="repositoryRoot"/>.
    /// </summary>
    public static List<FuzzFormat> Formats(string sharedCircuits, string repositoryRoot, out List<string> skipped)
    {
        skipped = new List<string>();
        var formats = new List<FuzzFormat>();
        var gcd = Path.Combine(sharedCircuits, "circuitops", "nangate45", "gcd");
        var liberty = Path.Combine(sharedCircuits, "liberty", "osu018_stdcells.lib");
        if (Directory.Exists(gcd) && File.Exists(liberty))
        {
            formats.Add(new FuzzFormat
            {
                Name = "Liberty", FileName = "osu018_stdcells.lib", Original = File.ReadAllBytes(liberty), Read = LibertyFingerprint,
                Family = typeof(CircuitFormatException), Nests = true, DeepNestingMustFail = true, Braces = "{}()",
                DeepNesting = string.Concat(Enumerable.Repeat("g () {", 20_000)) + new string('}', 20_000),
                Items = t => Spans(t, new Regex(@"^\s*cell\s*\(", RegexOptions.Multiline), BlockEnd),
            });
            formats.Add(new FuzzFormat
            {
                Name = "Verilog", FileName = "6_final.v", Original = Decompressed(Path.Combine(gcd, "6_final.v.gz")), Read = VerilogFingerprint,
                Family = typeof(CircuitFormatException), Nests = true,
                Items = t => Spans(t, new Regex(@"^\s*[A-Za-z_]\w*\s+[^\s(]+\s*\(", RegexOptions.Multiline), (s, i) => LineEnd(s, i, ");")),
            });
            var def = Decompressed(Path.Combine(gcd, "6_final.def.gz"));
            formats.Add(new FuzzFormat
            {
                Name = "DEF", FileName = "6_final.def", Original = def, Read = DefFingerprint,
                Family = typeof(CircuitFormatException), Nests = true,
                Items = t => Spans(t, new Regex(@"^\s*- \S+", RegexOptions.Multiline), (s, i) => LineEnd(s, i, " ;")),
            });
            // SPEF has no end marker: a file cut between two nets is caught by the nets it must cover, the routed nets of the DEF.
            var defPath = Path.Combine(gcd, "6_final.def.gz");
            var routed = DefReader.Read(defPath).Nets.Values.Where(n => n.Routes.Count > 0).Select(n => DefParasiticsExtractor.SpefName(n.Name)).ToList();
            formats.Add(new FuzzFormat
            {
                Name = "SPEF", FileName = "6_final.spef", Original = Decompressed(Path.Combine(gcd, "6_final.spef.gz")), Read = p => SpefFingerprint(p, routed),
                Family = typeof(CircuitFormatException),
                Items = t => Spans(t, new Regex(@"^\*D_NET ", RegexOptions.Multiline), (s, i) => LineEnd(s, i, "*END")),
            });
            formats.Add(new FuzzFormat
            {
                Name = "CircuitOps CSV", FileName = "net_properties.csv", Original = File.ReadAllBytes(Path.Combine(gcd, "net_properties.csv")), Read = CsvFingerprint,
                Family = typeof(CircuitFormatException), RecordsWithoutEnd = true,
                Items = t => Spans(t, new Regex(@"^[^\n]", RegexOptions.Multiline), (s, i) => LineEnd(s, i, "\n")).Skip(1).ToList(),
            });
        }
        else skipped.Add($"Liberty, Verilog, DEF, SPEF, CircuitOps CSV: shared circuit data not found at {sharedCircuits}");

        var jsonl = new StringWriter();
        PragWorldJsonl.Write(jsonl, new ConversationGenerator(new ConversationGeneratorOptions { Seed = 7 }).Generate(12));
        formats.Add(new FuzzFormat
        {
            Name = "PragWorld JSONL", FileName = "conversations.jsonl", Original = Encoding.UTF8.GetBytes(jsonl.ToString()), Read = JsonlFingerprint,
            Family = typeof(PragWorldFormatException), Nests = true, DeepNestingMustFail = true, Braces = "{}[]", RecordsWithoutEnd = true,
            DeepNesting = new string('[', 100_000) + new string(']', 100_000),
            Items = t => Spans(t, new Regex(@"^\{", RegexOptions.Multiline), (s, i) => LineEnd(s, i, "\n")),
        });
        var idx = Path.Combine(repositoryRoot, "tests", "MLNetExt.Tests", "Fuzz", "Samples", "fashion-mnist-t10k-16-images-idx3-ubyte");
        formats.Add(new FuzzFormat
        {
            Name = "IDX", FileName = "t10k-images-idx3-ubyte", Original = File.ReadAllBytes(idx), Read = IdxFingerprint,
            Family = typeof(IdxFormatException), Binary = true,
        });
        return formats;
    }

    /// <summary>Counts of each outcome per format, in <see cref="FuzzOutcome"/> order.</summary>
    public static Dictionary<FuzzOutcome, int> Tally(IEnumerable<FuzzCase> cases)
    {
        var t = Enum.GetValues<FuzzOutcome>().ToDictionary(o => o, _ => 0);
        foreach (var c in cases) t[c.Outcome]++;
        return t;
    }
}
