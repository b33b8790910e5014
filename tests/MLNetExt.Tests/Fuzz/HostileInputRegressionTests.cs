using System.IO.Compression;
using System.Text;

namespace MLNetExt.Tests.Fuzz;

/// <summary>
/// The worst cases found by mutating real inputs, each with its exact input and the shape of the message it must give
/// now (file:line, what was wrong). Before the readers were hardened these crashed, blew up memory or were accepted.
/// </summary>
public sealed class HostileInputRegressionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnx-hostile").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static T Fails<T>(Action read, string location, params string[] parts) where T : InputFormatException
    {
        var e = Assert.Throws<T>(read);
        Assert.StartsWith(location, e.Message);
        foreach (var p in parts) Assert.Contains(p, e.Message);
        return e;
    }

    private static LibertyLibrary Liberty(string text) => LibertyLibrary.From(LibertyParser.Parse(new StringReader(text), "t.lib"), "t.lib");

    private const string Lib = "library (x) {\n time_unit : \"1ns\";\n capacitive_load_unit (1, ff);\n" +
        " lu_table_template (t) { variable_1 : input_net_transition; index_1 (\"1, 2\"); }\n" +
        " cell (INV) {\n  area : 1.5;\n  pin (A) { direction : input; capacitance : 2; }\n" +
        "  pin (Y) { direction : output; timing () { related_pin : \"A\";\n   cell_rise (t) { values (\"0.1, 0.2\"); } } }\n }\n}\n";

    // ---- Liberty ----

    [Fact]
    public void Liberty10000NestedGroupsGiveADepthErrorNotAStackOverflow()
    {
        var text = "library (deep) {" + string.Concat(Enumerable.Repeat("g () {", 10_000)) + new string('}', 10_001);
        Assert.InRange(text.Length, 70_000, 71_000);
        var e = Fails<LibertyFormatException>(() => LibertyParser.Parse(new StringReader(text), "deep.lib"), "deep.lib:1:6016:", "nested deeper than 1000 levels");
        Assert.Equal(6016, e.Column);
    }

    [Fact]
    public void Liberty500NestedGroupsStillParseIntoTheTree()
    {
        var text = "library (deep) {\n" + string.Concat(Enumerable.Repeat("g () {\n", 500)) + new string('}', 501) + "\n";
        var g = LibertyParser.Parse(new StringReader(text), "deep.lib");
        int depth = 0;
        while (g.Groups.Count == 1) { g = g.Groups[0]; depth++; }
        Assert.Equal(500, depth);
    }

    [Theory]
    [InlineData("values (\"0.1, 0.2\")", "values (\"NaN, 0.2\")", "t.lib:9", "cell_rise values: 'NaN' is NaN")]
    [InlineData("values (\"0.1, 0.2\")", "values (\"0.1, Infinity\")", "t.lib:9", "cell_rise values: 'Infinity' is not finite")]
    [InlineData("index_1 (\"1, 2\")", "index_1 (\"1, 1e400\")", "t.lib:9", "cell_rise index_1: '1e400' is not finite")]
    [InlineData("capacitance : 2;", "capacitance : NaN;", "t.lib:7", "capacitance: 'NaN' is NaN")]
    [InlineData("area : 1.5;", "area : 1e400;", "t.lib:5", "area: '1e400' is not finite")]
    [InlineData("(1, ff)", "(x, ff)", "t.lib:1", "capacitive_load_unit scale 'x' is not a positive number")]
    [InlineData("(1, ff)", "(1, gallons)", "t.lib:1", "capacitive_load_unit 'gallons' is not a capacitance unit")]
    [InlineData("\"1ns\"", "\"1.2.3ns\"", "t.lib:1", "time_unit '1.2.3ns': the scale must be a positive number")]
    [InlineData("\"1ns\"", "\"1parsec\"", "t.lib:1", "time_unit '1parsec' is not a time unit")]
    public void LibertyNonFiniteNumbersAndBadUnitsNameLineAndField(string from, string to, string location, string message)
    {
        Assert.Equal(2, Liberty(Lib).Cells["INV"].Pins["A"].Capacitance);
        Fails<LibertyFormatException>(() => Liberty(Lib.Replace(from, to)), location, message);
    }

    [Fact]
    public void LibertyDuplicateCellsTemplatesAndPinsAreRefusedWithBothLines()
    {
        var twoCells = Lib.Replace(" cell (INV) {", " cell (INV) { area : 9; }\n cell (INV) {");
        Fails<LibertyFormatException>(() => Liberty(twoCells), "t.lib:6", "cell 'INV' is defined twice: at line 5 and at line 6");
        var twoTemplates = Lib.Replace(" cell (INV) {", " lu_table_template (t) { }\n cell (INV) {");
        Fails<LibertyFormatException>(() => Liberty(twoTemplates), "t.lib:5", "lu_table_template 't' is defined twice: at line 4 and at line 5");
        var twoPins = Lib.Replace("  pin (Y)", "  pin (A) { }\n  pin (Y)");
        Fails<LibertyFormatException>(() => Liberty(twoPins), "t.lib:8", "pin of cell 'INV' 'A' is defined twice: at line 7 and at line 8");
    }

    [Fact]
    public void LibertyUnbalancedBracesAreRefused()
    {
        Fails<LibertyFormatException>(() => Liberty(Lib + "}\n"), "t.lib:12", "unexpected '}' outside any group");
        Fails<LibertyFormatException>(() => Liberty(Lib[..Lib.LastIndexOf('}')]), "t.lib:", "'}' is missing");
    }

    // ---- Verilog ----

    private const string Netlist = "module top (a, y);\n input a;\n output y;\n INV u1 (.A(a), .Y(y));\nendmodule\n";

    [Theory]
    [InlineData("input [20000000:0] x;", "t.v:3:8", "bus range [20000000:0] is 20,000,001 bits wide; at most 65,536 are supported")]
    [InlineData("input [2147483646:0] x;", "t.v:3:8", "bus range [2147483646:0] is 2,147,483,647 bits wide")]
    [InlineData("input [99999999999:0] x;", "t.v:3:9", "bus bound '99999999999' is not a non-negative integer below 2^31")]
    [InlineData("input [a:0] x;", "t.v:3:9", "bus bound 'a' is not a non-negative integer")]
    public void VerilogBusRangesAreCheckedBeforeExpanding(string declaration, string location, string message)
    {
        var text = Netlist.Replace(" input a;", " input a;\n " + declaration);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Fails<NetlistFormatException>(() => VerilogNetlistReader.Read(new StringReader(text), "t.v"), location, message);
        Assert.InRange(watch.Elapsed.TotalSeconds, 0, 2);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16 << 20);
    }

    [Fact]
    public void VerilogDuplicateInstancesAndPortsAreRefusedWithBothLines()
    {
        Assert.Single(VerilogNetlistReader.Read(new StringReader(Netlist), "t.v").Instances);
        Fails<NetlistFormatException>(() => VerilogNetlistReader.Read(new StringReader(Netlist.Replace(" INV u1", " INV u1 (.A(a));\n INV u1")), "t.v"),
            "t.v:5", "instance 'u1' is defined twice: at line 4 and at line 5");
        Fails<NetlistFormatException>(() => VerilogNetlistReader.Read(new StringReader(Netlist.Replace(" output y;", " output y;\n input a;")), "t.v"),
            "t.v:4", "port 'a' is declared twice: at line 2 and at line 4");
    }

    // ---- DEF ----

    private const string Def = "VERSION 5.8 ;\nDESIGN top ;\nUNITS DISTANCE MICRONS 1000 ;\nCOMPONENTS 1 ;\n - u1 INV + PLACED ( 10 20 ) N ;\nEND COMPONENTS\n" +
        "PINS 1 ;\n - a + NET a + DIRECTION INPUT + PLACED ( 0 0 ) N ;\nEND PINS\nNETS 1 ;\n - a ( PIN a ) ( u1 A ) + ROUTED metal1 ( 0 0 ) ( 10 0 ) ;\nEND NETS\nEND DESIGN\n";

    [Theory]
    [InlineData(" - u1 INV + PLACED ( 10 20 ) N ;", "t.def:5", "in COMPONENTS: an item has no name ('- ;')")]
    [InlineData(" - a + NET a + DIRECTION INPUT + PLACED ( 0 0 ) N ;", "t.def:8", "in PINS: an item has no name ('- ;')")]
    [InlineData(" - a ( PIN a ) ( u1 A ) + ROUTED metal1 ( 0 0 ) ( 10 0 ) ;", "t.def:11", "in NETS: an item has no name ('- ;')")]
    public void DefItemWithoutANameIsRefused(string item, string location, string message)
    {
        Assert.Single(DefReader.Read(new StringReader(Def), "t.def").Components);
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(Def.Replace(item, " - ;")), "t.def"), location, message);
    }

    [Fact]
    public void DefEmptyStringAfterARoutePointIsRefused() =>
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(Def.Replace("( 10 0 ) ;", "( 10 0 ) \"\" ;")), "t.def"),
            "t.def:11:", "net 'a': an empty string");

    [Fact]
    public void DefTruncatedAfterEndComponentsIsRefused()
    {
        var cut = Def[..(Def.IndexOf("END COMPONENTS", StringComparison.Ordinal) + "END COMPONENTS\n".Length)];
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(cut), "t.def"), "t.def:7", "end of file before 'END DESIGN': the file is truncated");
    }

    [Fact]
    public void DefSectionCountsDuplicatesAndHugeCoordinatesAreChecked()
    {
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(Def.Replace("COMPONENTS 1 ;", "COMPONENTS 2 ;")), "t.def"),
            "t.def:6", "COMPONENTS (line 4) declares 2 items but holds 1");
        var twice = Def.Replace("COMPONENTS 1 ;\n - u1 INV + PLACED ( 10 20 ) N ;", "COMPONENTS 2 ;\n - u1 INV + PLACED ( 10 20 ) N ;\n - u1 BUF ;");
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(twice), "t.def"), "t.def:6:4", "COMPONENTS: 'u1' is defined twice: at line 5 and at line 6");
        Fails<DefFormatException>(() => DefReader.Read(new StringReader(Def.Replace("( 10 20 )", "( 99999999999999999999 20 )")), "t.def"),
            "t.def:5", "'99999999999999999999' is not an integer coordinate");
    }

    // ---- SPEF ----

    private const string Spef = "*SPEF \"ieee 1481-1999\"\n*DESIGN \"top\"\n*T_UNIT 1 NS\n*C_UNIT 1 FF\n*R_UNIT 1 KOHM\n*NAME_MAP\n*1 n1\n*2 u1\n" +
        "*D_NET *1 2.5\n*CONN\n*I *2:ZN O\n*CAP\n1 *2:ZN 1.0\n*RES\n1 *2:ZN *2:A 0.5\n*END\n" +
        "*D_NET n2 1.5\n*CONN\n*I *2:A I\n*CAP\n1 *2:A 1.5\n*END\n";

    [Fact]
    public void SpefEmptyOrCutBeforeTheFirstNetIsRefused()
    {
        Assert.Equal(2, SpefReader.Read(new StringReader(Spef), "t.spef").Nets.Count);
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(""), "t.spef"), "t.spef: the file is empty: no *SPEF header");
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(Spef[..Spef.IndexOf("*D_NET", StringComparison.Ordinal)]), "t.spef"),
            "t.spef:8", "the file holds no *D_NET");
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader("module top;\n"), "t.spef"), "t.spef:1", "expected the '*SPEF \"version\"' header");
    }

    [Fact]
    public void SpefCutBetweenNetsIsRefusedWhenTheNetlistNetsAreGiven()
    {
        var cut = Spef[..Spef.IndexOf("*D_NET n2", StringComparison.Ordinal)];
        Assert.Single(SpefReader.Read(new StringReader(cut), "t.spef").Nets); // nothing in the file itself says a net is missing
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(cut), "t.spef", requiredNets: new[] { "n1", "n2" }), "t.spef:16",
            "1 net(s) of the netlist have no *D_NET (truncated file?), e.g. n2");
    }

    [Theory]
    [InlineData("*T_UNIT 1 NS", "*T_UNIT NaN NS", "t.spef:3", "*T_UNIT: 'NaN' is NaN")]
    [InlineData("*T_UNIT 1 NS", "*T_UNIT -1 NS", "t.spef:3", "*T_UNIT: the scale -1 must be positive")]
    [InlineData("1 *2:ZN 1.0", "1 *2:ZN Infinity", "t.spef:13", "*CAP 1 of net n1: 'Infinity' is not finite")]
    [InlineData("*2:A 0.5", "*2:A 1e400", "t.spef:15", "*RES 1 of net n1: '1e400' is not finite")]
    [InlineData("*D_NET *1 2.5", "*D_NET *1 NaN", "t.spef:9", "*D_NET n1 total capacitance: 'NaN' is NaN")]
    public void SpefNonFiniteValuesNameLineAndField(string from, string to, string location, string message) =>
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(Spef.Replace(from, to)), "t.spef"), location, message);

    [Fact]
    public void SpefDuplicateNetsAndIdsAreRefusedWithBothLines()
    {
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(Spef.Replace("*D_NET n2", "*D_NET n1")), "t.spef"),
            "t.spef:17", "*D_NET n1 is defined twice: at line 9 and at line 17");
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(Spef.Replace("1 *2:ZN 1.0", "1 *2:ZN 1.0\n1 *2:ZN 1.0")), "t.spef"),
            "t.spef:14", "*CAP 1 of net n1 is given twice: at line 13 and at line 14");
        Fails<SpefFormatException>(() => SpefReader.Read(new StringReader(Spef.Replace("*1 n1", "*1 n1\n*1 n1")), "t.spef"),
            "t.spef:8", "name map entry *1 is defined twice: at line 7 and at line 8");
    }

    // ---- CircuitOps CSV ----

    private const string Nets = "net_name,net_route_length,net_steiner_length,fanout,total_cap,net_cap,net_coupling,net_res\n" +
        "n1,10,-1,2,1e-15,1e-15,0,5\nn2,20,-1,1,2e-15,2e-15,0,7\n";

    [Theory]
    [InlineData("n2,20,-1,1,2e-15", "n2,20,-1,1,NaN", "net_properties.csv:3:5", "column 'total_cap': 'NaN' is NaN")]
    [InlineData("n2,20,-1,1,2e-15", "n2,20,-1,1,Infinity", "net_properties.csv:3:5", "column 'total_cap': 'Infinity' is not finite")]
    [InlineData("n2,20,", "n2,1e400,", "net_properties.csv:3:2", "column 'net_route_length': '1e400' is not finite")]
    [InlineData("n2,20,", "n1,20,", "net_properties.csv:3", "row key (net_name=n1) appears twice: at line 2 and at line 3")]
    [InlineData(",net_res\n", ",resistance\n", "net_properties.csv:1", "net_properties needs the column(s) net_res")]
    public void CsvNumbersDuplicatesAndColumnsAreCheckedWhenRead(string from, string to, string location, string message)
    {
        Assert.Equal(2, CsvTable.Read(new StringReader(Nets), "net_properties.csv").Count);
        Fails<CircuitOpsFormatException>(() => CsvTable.Read(new StringReader(Nets.Replace(from, to)), "net_properties.csv"), location, message);
    }

    [Fact]
    public void CsvMissingValueMarkersAreAcceptedOnlyWhereTheSchemaAllowsThem()
    {
        const string libcells = "libcell_name,func_id,libcell_area,worst_input_cap,libcell_leakage,fo4_delay,fix_load_delay\nDECAP,3,1.5,None,NaN,NaN,NaN\n";
        var t = CsvTable.Read(new StringReader(libcells), "libcell_properties.csv");
        Assert.True(double.IsNaN(t.Number(0, "worst_input_cap")));
        Assert.Equal(1.5, t.Number(0, "libcell_area"));
        Fails<CircuitOpsFormatException>(() => CsvTable.Read(new StringReader(libcells.Replace("3,1.5", "3,NaN")), "libcell_properties.csv"),
            "libcell_properties.csv:2:3", "column 'libcell_area': 'NaN' is NaN");
    }

    // ---- gzip and tar containers ----

    // Writes `text` gzip-compressed with a flush point at `flushAt` and returns (path, compressed length at the flush).
    private (string Path, long FlushLength) GzipWithFlush(string name, string text, int flushAt)
    {
        var path = Path.Combine(_dir, name);
        long flushLength;
        using (var file = File.Create(path))
        {
            using var gz = new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true);
            var bytes = Encoding.UTF8.GetBytes(text);
            gz.Write(bytes, 0, flushAt);
            gz.Flush();
            flushLength = file.Position;
            gz.Write(bytes, flushAt, bytes.Length - flushAt);
        }
        return (path, flushLength);
    }

    private static void Cut(string path, long length)
    {
        using var f = new FileStream(path, FileMode.Open);
        f.SetLength(length);
    }

    [Fact]
    public void GzipCutAtAFlushPointIsRefusedForCsvAndSpef()
    {
        var rows = new StringBuilder(Nets[..Nets.IndexOf('\n')] + "\n");
        for (int i = 0; i < 1279; i++) rows.Append($"n{i},{i},-1,1,1e-15,1e-15,0,5\n");
        var (csv, csvFlush) = GzipWithFlush("net_properties.csv.gz", rows.ToString(), rows.Length / 2);
        Assert.Equal(1279, CsvTable.Read(csv).Count);
        Cut(csv, csvFlush);
        using (var plain = new StreamReader(new GZipStream(File.OpenRead(csv), CompressionMode.Decompress)))
            Assert.InRange(plain.ReadToEnd().Count(c => c == '\n'), 100, 1000); // .NET's GZipStream alone accepts the cut stream
        Fails<CircuitFormatException>(() => CsvTable.Read(csv), "net_properties.csv.gz: the gzip stream is truncated or damaged");

        var (spef, spefFlush) = GzipWithFlush("t.spef.gz", Spef, Spef.IndexOf("*D_NET n2", StringComparison.Ordinal));
        Assert.Equal(2, SpefReader.Read(spef).Nets.Count);
        Cut(spef, spefFlush);
        Fails<CircuitFormatException>(() => SpefReader.Read(spef), "t.spef.gz: the gzip stream is truncated or damaged");
    }

    [Fact]
    public void DamagedGzipNamesTheFile()
    {
        var path = Path.Combine(_dir, "t.def.gz");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Optimal)) gz.Write(Encoding.UTF8.GetBytes(Def));
        Assert.Single(DefReader.Read(path).Components);
        var bytes = File.ReadAllBytes(path);
        bytes[2] = 7; // compression method
        File.WriteAllBytes(path, bytes);
        Fails<CircuitFormatException>(() => DefReader.Read(path), "t.def.gz: unsupported gzip compression method 7");
        bytes[2] = 8;
        for (int i = 10; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
        Fails<CircuitFormatException>(() => DefReader.Read(path), "t.def.gz: ");
        File.WriteAllText(path, Def);
        Fails<CircuitFormatException>(() => DefReader.Read(path), "t.def.gz: the name ends in .gz but the file is not gzip data");
    }

    [Fact]
    public void TarHeaderWithABadSizeIsRefused()
    {
        var header = new byte[512];
        void Put(int at, string s) => Encoding.ASCII.GetBytes(s).CopyTo(header, at);
        Put(0, "6_final.v");
        Put(100, "0000644\0");
        Put(124, "0000000zz42\0");
        header[156] = (byte)'0';
        Put(257, "ustar\0");
        Put(148, "        ");
        Put(148, Convert.ToString(header.Sum(b => (long)b), 8).PadLeft(6, '0') + "\0 ");
        var path = Path.Combine(_dir, "t.v");
        File.WriteAllBytes(path, header.Concat(Encoding.ASCII.GetBytes(Netlist)).ToArray());
        Fails<CircuitFormatException>(() => VerilogNetlistReader.Read(path), "t.v: tar header: the size field '0000000zz42' is not an octal number");
        Put(124, "77777777777\0");
        Put(148, "        ");
        Put(148, Convert.ToString(header.Sum(b => (long)b), 8).PadLeft(6, '0') + "\0 ");
        File.WriteAllBytes(path, header.Concat(Encoding.ASCII.GetBytes(Netlist)).ToArray());
        Fails<CircuitFormatException>(() => VerilogNetlistReader.Read(path), "t.v: the tar header announces a 8,589,934,591-byte member but the file holds");
    }

    // ---- IDX ----

    [Theory]
    [InlineData(0x00000803, 0x7FFFFFFF, "at byte 4: the header announces 2,147,483,647 images of 28×28 pixels")]
    [InlineData(0x00000801, 0x7FFFFFFF, "at byte 4: the header announces 2,147,483,647 labels")]
    public void IdxHugeCountsAreCheckedAgainstTheFileLengthBeforeAllocating(int magic, int count, string message)
    {
        var path = Path.Combine(_dir, "huge.idx");
        var bytes = new List<byte>();
        void Int(int v) => bytes.AddRange(BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v)));
        Int(magic); Int(count);
        if (magic == 0x00000803) { Int(28); Int(28); }
        bytes.AddRange(new byte[784]);
        File.WriteAllBytes(path, bytes.ToArray());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Fails<IdxFormatException>(() => { if (magic == 0x00000803) IdxReader.ReadImages(path); else IdxReader.ReadLabels(path); }, path, message);
        Assert.Equal(4, e.Offset);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 4 << 20);
    }

    // ---- PragWorld JSONL ----

    // An endless line of 'x' produced on the fly, so the test itself holds no large string.
    private sealed class EndlessLine : TextReader
    {
        public override int Peek() => 'x';
        public override int Read() => 'x';
        public override int Read(char[] buffer, int index, int count)
        {
            Array.Fill(buffer, 'x', index, count);
            return count;
        }
    }

    [Fact]
    public void JsonlPropertyGivenTwiceOrAnEmptyFileIsRefused()
    {
        const string line = """{"id":"c1","speakers":["A","B"],"turns":[{"speaker":"A","text":"hi"}],"questions":[{"text":"q?","answer":true,"type":"Reference","entity":"keys"}]}""";
        Assert.Single(PragWorldJsonl.Read(new StringReader(line), "d.jsonl"));
        var twice = line.Replace("\"questions\":", "\"questions\":[],\"questions\":");
        Fails<PragWorldFormatException>(() => PragWorldJsonl.Read(new StringReader(twice), "d.jsonl").ToList(), "d.jsonl:1: $: invalid JSON", "questions");
        Fails<PragWorldFormatException>(() => PragWorldJsonl.Read(new StringReader(""), "d.jsonl").ToList(), "d.jsonl:1: $: the file holds no conversation");
    }

    [Fact]
    public void JsonlLineOf50MillionCharactersIsRefusedWithoutHoldingIt()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Fails<PragWorldFormatException>(() => PragWorldJsonl.Read(new EndlessLine(), "big.jsonl").ToList(), "big.jsonl:1:", "longer than 4,194,304 characters");
        Assert.Equal(1, e.LineNumber);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64 << 20);
    }
}
