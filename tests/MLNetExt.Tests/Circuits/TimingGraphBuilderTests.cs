
namespace MLNetExt.Tests.Circuits;

/// <summary>A three-cell design (INV → DFF → INV) small enough to know every node, edge, level and delay by hand.</summary>
internal static class TinyDesign
{
    public const string Liberty = """
        library (tiny) {
          delay_model : table_lookup;
          time_unit : "1ns";
          voltage_unit : "1V";
          current_unit : "1mA";
          pulling_resistance_unit : "1kohm";
          capacitive_load_unit (1, ff);
          input_threshold_pct_rise : 50; input_threshold_pct_fall : 50;
          output_threshold_pct_rise : 50; output_threshold_pct_fall : 50;
          slew_lower_threshold_pct_rise : 20; slew_upper_threshold_pct_rise : 80;
          slew_lower_threshold_pct_fall : 20; slew_upper_threshold_pct_fall : 80;
          lu_table_template (t2x3) {
            variable_1 : input_net_transition;
            variable_2 : total_output_net_capacitance;
            index_1 ("0.1, 0.2");
            index_2 ("1, 2, 4");
          }
          cell (INV) {
            area : 1;
            pin (A) { direction : input; capacitance : 1.0; rise_capacitance : 1.0; fall_capacitance : 0.8; }
            pin (Y) { direction : output; function : "!A";
              timing () { related_pin : "A"; timing_sense : negative_unate;
                cell_rise (t2x3) { values ("0.10, 0.20, 0.40", "0.20, 0.30, 0.50"); }
                cell_fall (t2x3) { values ("0.05, 0.10, 0.20", "0.10, 0.15, 0.25"); }
                rise_transition (t2x3) { values ("0.05, 0.10, 0.20", "0.06, 0.11, 0.21"); }
                fall_transition (t2x3) { values ("0.04, 0.08, 0.16", "0.05, 0.09, 0.17"); }
              }
            }
          }
          cell (DFF) {
            area : 4;
            ff (IQ, IQN) { next_state : "D"; clocked_on : "CK"; }
            pin (CK) { direction : input; clock : true; capacitance : 1.1; }
            pin (D) { direction : input; capacitance : 1.2;
              timing () { related_pin : "CK"; timing_type : setup_rising; rise_constraint (scalar) { values ("0.03"); } fall_constraint (scalar) { values ("0.03"); } }
            }
            pin (Q) { direction : output; function : "IQ";
              timing () { related_pin : "CK"; timing_type : rising_edge; timing_sense : non_unate;
                cell_rise (scalar) { values ("0.25"); } cell_fall (scalar) { values ("0.27"); }
                rise_transition (scalar) { values ("0.05"); } fall_transition (scalar) { values ("0.05"); } }
            }
          }
        }
        """;

    public const string Netlist = """
        module top (clk, a, y);
          input clk;
          input a;
          output y;
          wire n1;
          wire q;
          INV u1 (.A(a), .Y(n1));
          DFF r1 (.CK(clk), .D(n1), .Q(q));
          INV u2 (.A(q), .Y(y));
        endmodule
        """;

    public const string Def = """
        VERSION 5.8 ;
        DESIGN top ;
        UNITS DISTANCE MICRONS 1000 ;
        DIEAREA ( 0 0 ) ( 20000 10000 ) ;
        COMPONENTS 3 ;
          - u1 INV + PLACED ( 1000 2000 ) N ;
          - r1 DFF + PLACED ( 5000 2000 ) N ;
          - u2 INV + PLACED ( 9000 2000 ) N ;
        END COMPONENTS
        PINS 3 ;
          - clk + NET clk + DIRECTION INPUT + USE SIGNAL + PLACED ( 0 5000 ) N ;
          - a + NET a + DIRECTION INPUT + USE SIGNAL + PLACED ( 0 1000 ) N ;
          - y + NET y + DIRECTION OUTPUT + USE SIGNAL + PLACED ( 20000 5000 ) N ;
        END PINS
        NETS 5 ;
          - a ( PIN a ) ( u1 A ) + USE SIGNAL + ROUTED metal2 ( 0 1000 ) ( 1000 * ) ( * 2000 ) ;
          - n1 ( u1 Y ) ( r1 D ) + USE SIGNAL
            + ROUTED metal2 ( 1000 2000 ) ( * 4000 ) ( 5000 * )
            NEW metal1 ( 3000 4000 ) ( * 2000 )
            NEW metal2 ( 5000 4000 ) ( * 2000 ) via1 ;
          - clk ( PIN clk ) ( r1 CK ) + USE SIGNAL ;
          - q ( r1 Q ) ( u2 A ) + USE SIGNAL ;
          - y ( u2 Y ) ( PIN y ) + USE SIGNAL ;
        END NETS
        END DESIGN
        """;

    public const string Sdc = """
        create_clock -name clk -period 10 [get_ports clk]
        set_input_delay 1 -clock clk [get_ports a]
        set_output_delay 2 -clock clk [get_ports y]
        set_input_transition 0.15 [get_ports a]
        set_load 1.5 [get_ports y]
        """;

    public const string SetRc = """
        # Liberty units are fF,kOhm
        set_layer_rc -layer metal1 -resistance 5.0e-03 -capacitance 0.2
        set_layer_rc -layer metal2 -resistance 4.0e-03 -capacitance 0.1
        #set_layer_rc -layer metal9 -resistance 1 -capacitance 1
        set_layer_rc -via via1 -resistance 5e-03
        set_wire_rc -signal -layer metal2
        """;

    public static LibertyLibrary Library() => LibertyLibrary.From(LibertyParser.Parse(new StringReader(Liberty), "tiny.lib"), "tiny.lib");
    public static VerilogModule Module() => VerilogNetlistReader.Read(new StringReader(Netlist), "tiny.v");
    public static DefDesign Placement() => DefReader.Read(new StringReader(Def), "tiny.def");

    /// <summary>Writes the design's files into <paramref name="dir"/> and returns OpenSTA's inputs (SPEF optional).</summary>
    public static StaDesignFiles Files(string dir, string? spef)
    {
        File.WriteAllText(Path.Combine(dir, "tiny.lib"), Liberty);
        File.WriteAllText(Path.Combine(dir, "tiny.v"), Netlist);
        File.WriteAllText(Path.Combine(dir, "tiny.sdc"), Sdc);
        if (spef is not null) File.WriteAllText(Path.Combine(dir, "tiny.spef"), spef);
        return new StaDesignFiles(new[] { Path.Combine(dir, "tiny.lib") }, Path.Combine(dir, "tiny.v"), "top", Path.Combine(dir, "tiny.sdc"),
            spef is null ? null : Path.Combine(dir, "tiny.spef"));
    }
}

public sealed class TimingGraphBuilderTests
{
    private static TimingGraph Graph(StaTimingReport? labels = null) =>
        TimingGraphBuilder.Build(TinyDesign.Module(), TinyDesign.Placement(), new[] { TinyDesign.Library() }, labels: labels, technology: "tiny");

    private static int Node(TimingGraph g, string pin) => Array.IndexOf(g.PinNames, pin);

    [Fact]
    public void BuildsPinNodesNetEdgesCellArcsAndLevelsOfAHandCheckedDesign()
    {
        var g = Graph();
        Assert.Equal(new[] { "clk", "a", "y", "u1/A", "u1/Y", "r1/CK", "r1/D", "r1/Q", "u2/A", "u2/Y" }, g.PinNames);
        var nets = g.NetSource.Zip(g.NetTarget, (s, t) => $"{g.PinNames[s]}>{g.PinNames[t]}").Order().ToArray();
        Assert.Equal(new[] { "a>u1/A", "clk>r1/CK", "r1/Q>u2/A", "u1/Y>r1/D", "u2/Y>y" }, nets);
        // The setup check D–CK is not a signal arc; the clock-to-Q launch arc is.
        var arcs = g.CellSource.Zip(g.CellTarget, (s, t) => $"{g.PinNames[s]}>{g.PinNames[t]}").Order().ToArray();
        Assert.Equal(new[] { "r1/CK>r1/Q", "u1/A>u1/Y", "u2/A>u2/Y" }, arcs);
        var levels = g.PinNames.Select((p, i) => (p, g.Levels[i])).ToDictionary(x => x.p, x => x.Item2);
        Assert.Equal(new Dictionary<string, int> { ["clk"] = 0, ["a"] = 0, ["u1/A"] = 1, ["u1/Y"] = 2, ["r1/D"] = 3, ["r1/CK"] = 1, ["r1/Q"] = 2, ["u2/A"] = 3, ["u2/Y"] = 4, ["y"] = 5 }, levels);
        Assert.Equal(6, g.LevelCount);
    }

    [Fact]
    public void NodeFeaturesAreFlagsDieDistancesInMicronsAndLibertyCapacitancesInPicofarads()
    {
        var g = Graph();
        const int F = TimingGraph.NodeFeatureCount;
        var a = g.NodeFeatures.AsSpan(Node(g, "u1/A") * F, F).ToArray();
        // not a port, not a driver; top 8, left 1, right 19, bottom 2 µm; rise/fall caps 1.0/0.8 fF for both corners.
        Assert.Equal(new[] { 0f, 0f, 8f, 1f, 19f, 2f, 0.001f, 0.0008f, 0.001f, 0.0008f }, a);
        var port = g.NodeFeatures.AsSpan(Node(g, "a") * F, F).ToArray();
        Assert.Equal(new[] { 1f, 1f, 9f, 0f, 20f, 1f, 0f, 0f, 0f, 0f }, port);
        int e = Array.FindIndex(g.NetSource, s => g.PinNames[s] == "u1/Y");
        Assert.Equal(new[] { 4f, 0f }, g.NetEdgeFeatures.AsSpan(e * 2, 2).ToArray());
    }

    [Fact]
    public void CellArcsCarryTheEightLutsPaddedToSevenBySevenWithMasksAndAxesInNanosecondsAndPicofarads()
    {
        var g = Graph();
        int k = Array.FindIndex(g.CellSource, s => g.PinNames[s] == "u1/A");
        const int S = TimingGraph.LutSize, A = TimingGraph.LutAxisWidth;
        for (int lut = 0; lut < TimingGraph.LutCount; lut++) Assert.Equal(1f, g.CellLutAxes[(k * 8 + lut) * A]);
        int ax = (k * 8 + 4) * A; // late cell_rise
        Assert.Equal(new[] { 0.1f, 0.2f }, g.CellLutAxes.AsSpan(ax + 1, 2).ToArray());
        Assert.Equal(new[] { 0.001f, 0.002f, 0.004f }, g.CellLutAxes.AsSpan(ax + 1 + S, 3).ToArray());
        int v = (k * 8 + 4) * S * S;
        Assert.Equal(new[] { 0.1f, 0.2f, 0.4f }, g.CellLutValues.AsSpan(v, 3).ToArray());
        Assert.Equal(new[] { 0.2f, 0.3f, 0.5f }, g.CellLutValues.AsSpan(v + S, 3).ToArray());
        Assert.Equal(6f, g.CellLutMask.AsSpan(v, S * S).ToArray().Sum());
        // Early and late are the same tables when one library set is given.
        Assert.Equal(g.CellLutValues.AsSpan(v, S * S).ToArray(), g.CellLutValues.AsSpan((k * 8) * S * S, S * S).ToArray());
    }

    [Fact]
    public void LabelsComeFromTheTimingReportAndSlackIsRequiredMinusArrival()
    {
        var dump = """
            P u1/Y 1.1e-9 1.05e-9 1.2e-9 1.15e-9 5e-11 4e-11 6e-11 5e-11 nan nan 8.0e-9 8.1e-9 0
            P r1/D 1.1e-9 1.05e-9 1.2e-9 1.15e-9 5e-11 4e-11 6e-11 5e-11 nan nan 8.0e-9 8.1e-9 1
            E u1/A u1/Y combinational 1e-10 5e-11 2e-10 1e-10
            E u1/Y r1/D wire 0 0 1e-12 1e-12
            E r1/CK r1/D setup 3e-11 3e-11 3e-11 3e-11
            """;
        var labels = StaTimingReport.Parse(new StringReader(dump), "dump");
        var g = Graph(labels);
        int y = Node(g, "u1/Y"), d = Node(g, "r1/D");
        Assert.Equal(1.2f, g.ArrivalTime[y * 4 + 2], 5);
        Assert.Equal(9.2f, g.RequiredTime[y * 4 + 2], 4);
        Assert.Equal(8.0f, g.Slack()[y * 4 + 2], 4);
        Assert.True(float.IsNaN(g.RequiredTime[y * 4]));
        Assert.Equal(0.001f, g.NetDelay[d * 4 + 2], 6);
        Assert.True(g.IsEndpoint[d]);
        Assert.False(g.IsEndpoint[y]);
        int k = Array.FindIndex(g.CellSource, s => g.PinNames[s] == "u1/A");
        Assert.Equal(new[] { 0.1f, 0.05f, 0.2f, 0.1f }, g.CellDelay.AsSpan(k * 4, 4).ToArray());
        Assert.True(float.IsNaN(g.ArrivalTime[Node(g, "u2/Y") * 4])); // not in the report
    }

    [Fact]
    public void CombinationalLoopIsRejectedNamingThePinsOnIt()
    {
        var loop = """
            module top (a, y);
              input a; output y;
              wire n1; wire n2;
              INV u1 (.A(n2), .Y(n1));
              INV u2 (.A(n1), .Y(n2));
              INV u3 (.A(n1), .Y(y));
            endmodule
            """;
        var e = Assert.Throws<TimingGraphException>(() => TimingGraphBuilder.Build(VerilogNetlistReader.Read(new StringReader(loop), "loop.v"),
            TinyDesign.Placement(), new[] { TinyDesign.Library() }));
        Assert.Contains("combinational loop", e.Message);
        foreach (var pin in new[] { "u1/A", "u1/Y", "u2/A", "u2/Y" }) Assert.Contains(pin, e.Message);
        Assert.DoesNotContain("u3", e.Message);
    }

    [Fact]
    public void UnknownCellAndDoubleDriverAreClearErrors()
    {
        var unknown = TinyDesign.Netlist.Replace("INV u2", "BUF_X9 u2");
        var e = Assert.Throws<TimingGraphException>(() => TimingGraphBuilder.Build(VerilogNetlistReader.Read(new StringReader(unknown), "u.v"),
            TinyDesign.Placement(), new[] { TinyDesign.Library() }));
        Assert.Contains("BUF_X9", e.Message);
        Assert.Contains("u2", e.Message);
        Assert.Contains("line 9", e.Message);
        var twice = TinyDesign.Netlist.Replace(".Y(y)", ".Y(n1)");
        var d = Assert.Throws<TimingGraphException>(() => TimingGraphBuilder.Build(VerilogNetlistReader.Read(new StringReader(twice), "d.v"),
            TinyDesign.Placement(), new[] { TinyDesign.Library() }));
        Assert.Contains("net 'n1' has two drivers", d.Message);
    }

    [Fact]
    public void MalformedTimingDumpNamesTheLine()
    {
        var e = Assert.Throws<FormatException>(() => StaTimingReport.Parse(new StringReader("P a 1 2 3 4 5 6 7 8 9 10 11 12 0\nE a b wire 1 x 3 4\n"), "dump.txt"));
        Assert.StartsWith("dump.txt:2:", e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void CellArcsCarryTheirLibertyUnatenessAndClockEdge()
    {
        // INV is negative_unate; the DFF's CK→Q is rising_edge (its timing_sense non_unate must not win over the edge).
        var g = Graph(null);
        TimingArcSense Sense(string from, string to) =>
            g.CellArcSense[Enumerable.Range(0, g.CellSource.Length).Single(e => g.PinNames[g.CellSource[e]] == from && g.PinNames[g.CellTarget[e]] == to)];
        Assert.Equal(g.CellSource.Length, g.CellArcSense.Length);
        Assert.Equal(TimingArcSense.NegativeUnate, Sense("u1/A", "u1/Y"));
        Assert.Equal(TimingArcSense.RisingEdge, Sense("r1/CK", "r1/Q"));
        Assert.Equal(TimingArcSense.NegativeUnate, Sense("u2/A", "u2/Y"));
        // A sub-graph keeps each kept arc's sense.
        var sub = g.Subgraph(Enumerable.Range(0, g.NodeCount).Where(i => g.PinNames[i].StartsWith("r1/") || g.PinNames[i].StartsWith("u2/")).ToList());
        Assert.Equal([TimingArcSense.RisingEdge, TimingArcSense.NegativeUnate],
            Enumerable.Range(0, sub.CellSource.Length).OrderBy(e => sub.PinNames[sub.CellSource[e]], StringComparer.Ordinal).Select(e => sub.CellArcSense[e]));
    }

    [Theory]
    [InlineData("rising_edge", "non_unate", TimingArcSense.RisingEdge, true, true, false, false)]
    [InlineData("falling_edge", "", TimingArcSense.FallingEdge, false, false, true, true)]
    [InlineData("combinational", "positive_unate", TimingArcSense.PositiveUnate, true, false, false, true)]
    [InlineData("combinational", "negative_unate", TimingArcSense.NegativeUnate, false, true, true, false)]
    [InlineData("combinational", "non_unate", TimingArcSense.Unknown, true, true, true, true)]
    public void ArcSenseSaysWhichInputTransitionCausesWhichOutputTransition(string type, string sense, TimingArcSense expected,
        bool riseToRise, bool riseToFall, bool fallToRise, bool fallToFall)
    {
        var s = TimingArcSenses.From(type, sense);
        Assert.Equal(expected, s);
        Assert.Equal((riseToRise, riseToFall, fallToRise, fallToFall), (s.Allows(true, true), s.Allows(true, false), s.Allows(false, true), s.Allows(false, false)));
    }

    [Fact]
    public void GraphFileRoundTripsEveryArrayExactly()
    {
        var labels = StaTimingReport.Parse(new StringReader("P u1/Y 1e-9 1e-9 2e-9 2e-9 1e-11 1e-11 1e-11 1e-11 1e-9 nan 3e-9 4e-9 0\n"), "d");
        var g = Graph(labels);
        var path = Path.Combine(Path.GetTempPath(), $"g{Guid.NewGuid():N}.tgraph");
        try
        {
            TimingGraphFile.Save(g, path);
            var r = TimingGraphFile.Load(path);
            Assert.Equal(g.PinNames, r.PinNames);
            Assert.Equal((g.Design, g.Technology, g.LabelSource), (r.Design, r.Technology, r.LabelSource));
            Assert.Equal(g.NodeFeatures, r.NodeFeatures);
            Assert.Equal(g.CellLutValues, r.CellLutValues);
            Assert.Equal(g.Levels, r.Levels);
            Assert.Equal(g.ArrivalTime, r.ArrivalTime); // NaN == NaN for arrays of float in xunit
            Assert.Equal(g.IsEndpoint, r.IsEndpoint);
            Assert.Equal(g.CellArcSense, r.CellArcSense);
            Assert.Equal(TimingGraphBuilder.Revision, r.BuildRevision);
            Assert.True(CircuitDataset.IsCurrent(r));
            Assert.False(CircuitDataset.IsCurrent(r.WithBuildRevision(TimingGraphBuilder.Revision - 1)));
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..40]);
            Assert.Throws<InvalidDataException>(() => TimingGraphFile.Load(path));
        }
        finally { File.Delete(path); }
    }
}

public sealed class DefParasiticsTests
{
    [Fact]
    public void LayerRcReadsLayersViasAndTheSignalLayerSkippingComments()
    {
        var rc = LayerRc.Read(new StringReader(TinyDesign.SetRc), "setRC.tcl");
        Assert.Equal((4.0e-3, 0.1), rc.Layers["metal2"]);
        Assert.False(rc.Layers.ContainsKey("metal9"));
        Assert.Equal(5e-3, rc.Vias["via1"]);
        Assert.Equal("metal2", rc.SignalLayer);
        var e = Assert.Throws<FormatException>(() => LayerRc.Read(new StringReader("set_layer_rc -layer m1 -resistance x -capacitance 1"), "bad.tcl"));
        Assert.StartsWith("bad.tcl:1:", e.Message);
    }

    [Fact]
    public void RoutedSegmentsBecomeAResistorTreeWithLengthTimesLayerRc()
    {
        var def = TinyDesign.Placement();
        var rc = LayerRc.Read(new StringReader(TinyDesign.SetRc), "setRC.tcl");
        var text = new StringWriter();
        int nets = DefParasiticsExtractor.WriteSpef(def, rc, 1e-15, (inst, pin) => pin is "Y" or "Q", text);
        Assert.Equal(2, nets); // nets a and n1 are routed
        var spef = SpefReader.Read(new StringReader(text.ToString()), "x.spef");
        var n1 = spef.Nets["n1"];
        // metal2 2 µm up + 4 µm across, metal1 2 µm down at x=3 (joins mid-wire), metal2 2 µm down at x=5:
        // C = (2+4+2)·0.1 fF + 2·0.2 fF = 1.2 fF; R of the metal2 pieces 4 Ω/µm, metal1 5 Ω/µm.
        Assert.Equal(1.2e-3, n1.TotalCapacitance, 9);
        double wireR = n1.Resistors.Where(r => r.Value > 0.01).Sum(r => r.Value);
        Assert.Equal(2 * 4 + 2 * 4 + 2 * 4 + 2 * 4 + 2 * 5, wireR, 6);
        Assert.Contains(n1.Connections, c => c.Node == "u1:Y" && c.Direction == "O");
        Assert.Contains(n1.Connections, c => c.Node == "r1:D" && c.Direction == "I");
    }

    private static readonly string[] Sky130Stack = ["li1", "met1", "met2", "met3", "met4", "met5"];
    private static readonly string[] Nangate45Stack = ["metal1", "metal2", "metal3", "metal4", "metal5", "metal6", "metal7", "metal8"];
    private static readonly string[] Asap7Stack = ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9"];

    [Theory]
    [InlineData("sky130", "L1M1_PR_MR", "li1", "met1")]
    [InlineData("sky130", "M1M2_PR", "met1", "met2")]
    [InlineData("sky130", "M3M4_PR", "met3", "met4")]
    [InlineData("nangate45", "via1_4", "metal1", "metal2")]
    [InlineData("nangate45", "via5_0", "metal5", "metal6")]
    [InlineData("asap7", "VIA12", "M1", "M2")]
    [InlineData("asap7", "VIA45", "M4", "M5")]
    [InlineData("sky130", "mystery_via", null, null)]
    public void LibraryViaNamesOfTheOpenRoadPlatformsGiveTheirLayerPair(string platform, string via, string? bottom, string? top)
    {
        var stack = platform switch { "sky130" => Sky130Stack, "nangate45" => Nangate45Stack, _ => Asap7Stack };
        var pair = DefViaLayers.FromName(via, stack);
        Assert.Equal(bottom, pair?.Bottom);
        Assert.Equal(top, pair?.Top);
    }

    [Fact]
    public void ARoutedPathChangesLayerAtEachViaAndTheExtractorUsesThatLayersResistance()
    {
        // sky130-style: the statement starts on li1, climbs to met2, comes back to met1; "gen34" is defined in VIAS.
        const string def = """
            VERSION 5.8 ;
            DESIGN v ;
            UNITS DISTANCE MICRONS 1000 ;
            DIEAREA ( 0 0 ) ( 20000 20000 ) ;
            VIAS 1 ;
                - gen34 + VIARULE M3M4_PR + CUTSIZE 200 200 + LAYERS met3 via3 met4 + ROWCOL 1 2 ;
            END VIAS
            COMPONENTS 2 ;
              - u1 INV + PLACED ( 0 0 ) N ;
              - u2 INV + PLACED ( 5000 2000 ) N ;
            END COMPONENTS
            NETS 1 ;
              - n ( u1 Y ) ( u2 A ) + USE SIGNAL
                + ROUTED li1 ( 0 0 ) L1M1_PR_MR M1M2_PR ( * 2000 ) M1M2_PR ( 5000 * ) L1M1_PR_MR
                NEW met3 ( 5000 2000 ) gen34 ( * 3000 ) ;
            END NETS
            END DESIGN
            """;
        var d = DefReader.Read(new StringReader(def), "v.def");
        Assert.Equal(("met3", "met4"), d.ViaLayers!["gen34"]);
        var resolved = DefViaLayers.Resolve(d.Nets["n"].Routes, Sky130Stack, d.ViaLayers).ToList();
        var wires = resolved.Where(r => r.Via is null).Select(r => r.Layer).ToList();
        Assert.Equal(new[] { "met2", "met1", "met4" }, wires);
        Assert.Equal("met1", resolved.Last(r => r.Via == "L1M1_PR_MR").Layer); // the via is reached on met1

        var rc = LayerRc.Read(new StringReader("""
            set_layer_rc -layer li1 -capacitance 1e-4 -resistance 7e-02
            set_layer_rc -layer met1 -capacitance 1e-4 -resistance 1e-03
            set_layer_rc -layer met2 -capacitance 1e-4 -resistance 2e-03
            set_layer_rc -layer met3 -capacitance 1e-4 -resistance 3e-03
            set_layer_rc -layer met4 -capacitance 1e-4 -resistance 4e-03
            set_wire_rc -signal -layer met1
            """), "setRC.tcl");
        Assert.Equal(Sky130Stack[..5], rc.Stack);
        var text = new StringWriter();
        DefParasiticsExtractor.WriteSpef(d, rc, 1e-12, (inst, pin) => pin == "Y", text);
        var spef = SpefReader.Read(new StringReader(text.ToString()), "v.spef");
        // 2 µm of met2 (2 Ω/µm) + 5 µm of met1 (1 Ω/µm) + 1 µm of met4 (4 Ω/µm); on li1 it would have been 70 Ω/µm.
        Assert.Equal(2 * 2 + 5 * 1 + 1 * 4, spef.Nets["n"].Resistors.Where(r => r.Value > 0.01).Sum(r => r.Value), 6);
    }
}

public sealed class OpenStaRoundTripTests
{
    [OpenStaFact]
    public void OpenStaArrivalsOnTheTinyDesignMatchTheLibertyTables()
    {
        var dir = Directory.CreateTempSubdirectory("tiny-sta-").FullName;
        try
        {
            var report = new OpenStaRunner().Run(TinyDesign.Files(dir, spef: null));
            var lib = TinyDesign.Library();
            var inv = lib.Cells["INV"].Pins["Y"].Timing[0];
            // u1 drives r1/D (1.2 fF) with no wire; its input slew is the SDC's 0.15 ns. Output rises when A falls.
            double rise = inv.Table("cell_rise")!.Lookup(0.15, 1.2), fall = inv.Table("cell_fall")!.Lookup(0.15, 1.2);
            var y = report.Pins["u1/Y"];
            Assert.Equal(1 + rise, y.Arrival[2], 4);
            Assert.Equal(1 + fall, y.Arrival[3], 4);
            Assert.Equal(inv.Table("rise_transition")!.Lookup(0.15, 1.2), y.Slew[2], 4);
            // Setup at r1/D: required = period − setup = 10 − 0.03 (ideal clock).
            var d = report.Pins["r1/D"];
            Assert.True(d.HasTimingCheck);
            Assert.Equal(10 - 0.03, d.Required[2], 4);
            // The clock's source port (no paths of its own) carries the clock edges: rise at 0, fall at half the period.
            Assert.Equal(new[] { 0f, 5f, 0f, 5f }, report.Pins["clk"].Arrival.Select(a => (float)Math.Round(a, 4)).ToArray());
            var g = TimingGraphBuilder.Build(TinyDesign.Module(), TinyDesign.Placement(), new[] { lib }, labels: report);
            int k = Array.FindIndex(g.CellSource, s => g.PinNames[s] == "r1/CK");
            Assert.Equal(0.25f, g.CellDelay[k * 4 + 2], 4); // clock-to-Q launch arc labelled
            Assert.True(g.IsEndpoint[Array.IndexOf(g.PinNames, "y")]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [OpenStaFact]
    public void DefExtractedSpefIsReadByOpenStaAndSlowsTheRoutedNet()
    {
        var dir = Directory.CreateTempSubdirectory("tiny-sta-").FullName;
        try
        {
            var text = new StringWriter();
            DefParasiticsExtractor.WriteSpef(TinyDesign.Placement(), LayerRc.Read(new StringReader(TinyDesign.SetRc), "setRC.tcl"), 1e-15,
                (inst, pin) => pin is "Y" or "Q", text);
            var ideal = new OpenStaRunner().Run(TinyDesign.Files(dir, spef: null));
            var routed = new OpenStaRunner().Run(TinyDesign.Files(dir, spef: text.ToString()));
            // 1.2 fF of wire on n1 makes u1 slower than with the pin load alone.
            Assert.True(routed.Pins["u1/Y"].Arrival[2] > ideal.Pins["u1/Y"].Arrival[2] + 0.01, $"{routed.Pins["u1/Y"].Arrival[2]} vs {ideal.Pins["u1/Y"].Arrival[2]}");
            Assert.True(routed.Edges.Single(e => e.From == "u1/Y" && e.To == "r1/D").Delay[2] > 0);
        }
        finally { Directory.Delete(dir, true); }
    }

    [OpenStaFact(NeedsSharedCircuits = true)]
    public void GatedClockPinsAreLabelledWithTheClockArrivalNotTheGatesDataPath()
    {
        // nangate45/ibex gates the clock of about half its flops with a latch + AND clock gate. OpenSTA's worst arrival at
        // those clock pins includes a data tag launched by the clock's falling edge through the latch (~1.1 ns later);
        // STA launches Q only from the clock tag, so the label must be the clock's arrival: the latest rise at every
        // rising-edge clock pin stays within 0.3 ns of the earliest and before the flop's output.
        WithFreshCache("nangate45/ibex", (design, cache) =>
        {
            var (graph, _) = new CircuitDataset(cache).Get(design);
            var clockPins = Enumerable.Range(0, graph.CellSource.Length).Where(k => graph.CellArcSense[k] == TimingArcSense.RisingEdge).ToList();
            Assert.True(clockPins.Count > 1900, $"{clockPins.Count} clock-to-output arcs");
            var late = clockPins.Where(k => graph.ArrivalTime[graph.CellSource[k] * 4 + 2] - graph.ArrivalTime[graph.CellSource[k] * 4] > 0.3f).ToList();
            Assert.True(late.Count == 0, $"{late.Count} clock pins with a late rise > 0.3 ns after the early rise, e.g. {(late.Count > 0 ? graph.PinNames[graph.CellSource[late[0]]] : "")}");
            Assert.All(clockPins, k => Assert.True(graph.ArrivalTime[graph.CellSource[k] * 4 + 2] < graph.ArrivalTime[graph.CellTarget[k] * 4 + 2] + 1e-4f));
        });
    }

    [OpenStaFact(NeedsSharedCircuits = true)]
    public void RetimingNangate45GcdMatchesCircuitOpsLabelsWithinOnePicosecond()
    {
        WithFreshCache("nangate45/gcd", (design, cache) =>
        {
            var (graph, stats) = new CircuitDataset(cache).Get(design);
            var c = CircuitOpsLabelComparison.Compare(graph, CsvTable.Read(Path.Combine(design.Folder, "pin_properties.csv")));
            Assert.True(c.MatchedPins > 1200, $"{c.MatchedPins} pins matched");
            Assert.InRange(c.ArrivalMedianPs, 0, 1);
            Assert.InRange(c.SlackMedianPs, 0, 1);
            // CircuitOps' pin_pin_edge holds 754 cell arcs without the 70 clock-to-Q arcs we add (35 flops × rise/fall… one arc each of CK→Q, CK→QN).
            Assert.Equal(754, graph.CellSource.Length - graph.CellSource.Count(s => graph.PinNames[s].EndsWith("/CK")));
            Assert.False(stats.FromCache);
            var dataset = new CircuitDataset(cache);
            Assert.True(dataset.Get(design).Stats.FromCache);
            // A graph cached by an older builder (labels or arcs made differently) is rebuilt, not reused.
            TimingGraphFile.Save(TimingGraphFile.Load(dataset.CachePath(design)).WithBuildRevision(0), dataset.CachePath(design));
            var (rebuilt, again) = dataset.Get(design);
            Assert.False(again.FromCache);
            Assert.Equal(TimingGraphBuilder.Revision, rebuilt.BuildRevision);
        });
    }

    [OpenStaFact(NeedsSharedCircuits = true)]
    public void NetDelaysFromDefExtractedRcFollowTheShippedSpefOnSky130Gcd()
    {
        // sky130hd/gcd ships a SPEF; extracting RC from its DEF instead must give net delays that follow it. Reading every
        // segment on its statement's first layer (li1, 80× met1's resistance) gave correlation 0.83 and 15× the mean delay.
        WithFreshCache("sky130hd/gcd", (design, cache) =>
        {
            var shipped = new CircuitDataset(Path.Combine(cache, "spef")).Get(design).Graph;
            var extracted = new CircuitDataset(Path.Combine(cache, "def")).Get(design with { Spef = null }).Graph;
            Assert.Equal(shipped.PinNames, extracted.PinNames);
            var pairs = Enumerable.Range(0, shipped.NodeCount).Select(i => (A: (double)shipped.NetDelay[i * 4 + 2], B: (double)extracted.NetDelay[i * 4 + 2]))
                .Where(p => !double.IsNaN(p.A) && !double.IsNaN(p.B)).ToList();
            Assert.True(pairs.Count > 1000, $"{pairs.Count} net sinks");
            double ma = pairs.Average(p => p.A), mb = pairs.Average(p => p.B);
            double corr = pairs.Sum(p => (p.A - ma) * (p.B - mb)) / Math.Sqrt(pairs.Sum(p => (p.A - ma) * (p.A - ma)) * pairs.Sum(p => (p.B - mb) * (p.B - mb)));
            Assert.True(corr > 0.95, $"net delay correlation {corr:F3}");
            Assert.InRange(mb / ma, 0.1, 2); // ground capacitance only and no via resistance: below the shipped SPEF, same order
        });
    }

    // A design of the shared data and a fresh, empty cache folder for it, deleted afterwards.
    private static void WithFreshCache(string designId, Action<CircuitDesignSource, string> test)
    {
        var design = CircuitDataset.Discover(SharedData.Circuits).Single(d => d.Id == designId);
        var cache = Directory.CreateTempSubdirectory("circuits-").FullName;
        try { test(design, cache); }
        finally { Directory.Delete(cache, true); }
    }
}

/// <summary>Skips when OpenSTA (<c>sta</c>) is not installed.</summary>
public sealed class OpenStaFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> without OpenSTA.</summary>
    public OpenStaFactAttribute()
    {
        if (!OpenStaRunner.IsAvailable) Skip = "OpenSTA ('sta') is not installed: run scripts/setup.sh (Debian package opensta).";
    }

    /// <summary>Also skip when the shared circuit data is absent.</summary>
    public bool NeedsSharedCircuits
    {
        get => false;
        init
        {
            if (value && Skip is null && !Directory.Exists(SharedData.Circuits))
                Skip = $"Shared circuit data not found at {SharedData.Circuits}: it exists beside the project on development machines and in CI only.";
        }
    }
}

public sealed class SpefNameTests
{
    [Theory]
    [InlineData("_345_", "_345_")]
    [InlineData("req_msg[0]", "req_msg[0]")]
    [InlineData(@"ex_block_i.mult_q\[0\]$_DFF_PN1_", @"ex_block_i\.mult_q\[0\]\$_DFF_PN1_")]
    [InlineData("u0/x", @"u0\/x")]
    public void DefNamesAreEscapedForSpef(string def, string spef) => Assert.Equal(spef, DefParasiticsExtractor.SpefName(def));
}

public sealed class LatchLoopTests
{
    // A level-sensitive latch: transparent D→Q, and the enable G (a clock pin) launching Q.
    private const string Latch = """
              cell (LATCH) {
                area : 3;
                latch (IQ, IQN) { data_in : "D"; enable : "G"; }
                pin (D) { direction : input; capacitance : 1.0; }
                pin (G) { direction : input; clock : true; capacitance : 1.0; }
                pin (Q) { direction : output; function : "IQ";
                  timing () { related_pin : "D"; timing_sense : positive_unate; cell_rise (scalar) { values ("0.1"); } cell_fall (scalar) { values ("0.1"); } }
                  timing () { related_pin : "G"; timing_type : rising_edge; cell_rise (scalar) { values ("0.2"); } cell_fall (scalar) { values ("0.2"); } } }
              }

        """;

    // The tiny design's library with more cells (Liberty groups, without the library's closing brace) appended.
    private static LibertyLibrary TinyLibraryWith(string cells, string name) =>
        LibertyLibrary.From(LibertyParser.Parse(new StringReader(TinyDesign.Liberty[..TinyDesign.Liberty.LastIndexOf('}')] + cells + "}\n"), name), name);

    private static List<string> Arcs(TimingGraph g) => g.CellSource.Zip(g.CellTarget, (s, t) => $"{g.PinNames[s]}>{g.PinNames[t]}").ToList();

    [Fact]
    public void LatchDataToOutputArcIsCutSoClockGatingLoopsLevelize()
    {
        // A clock gate: latch Q gates the clock of r1, whose Q feeds the latch's D back through an inverter.
        var lib = TinyLibraryWith(Latch, "latch.lib");
        Assert.True(lib.Cells["LATCH"].IsLatch);
        Assert.False(lib.Cells["DFF"].IsLatch);
        var netlist = """
            module top (clk, a, y);
              input clk; input a; output y;
              wire en; wire gclk; wire q; wire nq;
              LATCH l1 (.D(nq), .G(clk), .Q(en));
              INV g1 (.A(en), .Y(gclk));
              DFF r1 (.CK(gclk), .D(a), .Q(q));
              INV u1 (.A(q), .Y(nq));
              INV u2 (.A(q), .Y(y));
            endmodule
            """;
        var g = TimingGraphBuilder.Build(VerilogNetlistReader.Read(new StringReader(netlist), "gate.v"), TinyDesign.Placement(), new[] { lib });
        var arcs = Arcs(g);
        Assert.Contains("l1/G>l1/Q", arcs);
        Assert.DoesNotContain("l1/D>l1/Q", arcs);
        Assert.True(g.Levels[Array.IndexOf(g.PinNames, "l1/D")] > g.Levels[Array.IndexOf(g.PinNames, "r1/Q")]);
    }

    [Fact]
    public void AClockGatesEnableArcLeavesTheGraphSoGatedFlopsTakeTheClocksPath()
    {
        // l1 (enabled by the inverted clock) holds the enable; g1 = AND(clk, enable) clocks r1. A data AND (g2) on r1's D
        // path, with the clock on one input, keeps both arcs: the clock there is not on its way to a clock pin.
        var cells = Latch + """
              cell (AND2) {
                area : 2;
                pin (A) { direction : input; capacitance : 1.0; }
                pin (B) { direction : input; capacitance : 1.0; }
                pin (Y) { direction : output; function : "A&B";
                  timing () { related_pin : "A"; timing_sense : positive_unate; cell_rise (scalar) { values ("0.1"); } cell_fall (scalar) { values ("0.1"); } }
                  timing () { related_pin : "B"; timing_sense : positive_unate; cell_rise (scalar) { values ("0.1"); } cell_fall (scalar) { values ("0.1"); } } }
              }
            """;
        var lib = TinyLibraryWith(cells, "gate.lib");
        var netlist = """
            module top (clk, a, en_in, y);
              input clk; input a; input en_in; output y;
              wire nclk; wire en; wire gclk; wire d; wire q;
              INV i1 (.A(clk), .Y(nclk));
              LATCH l1 (.D(en_in), .G(nclk), .Q(en));
              AND2 g1 (.A(clk), .B(en), .Y(gclk));
              AND2 g2 (.A(a), .B(clk), .Y(d));
              DFF r1 (.CK(gclk), .D(d), .Q(q));
              INV u2 (.A(q), .Y(y));
            endmodule
            """;
        var g = TimingGraphBuilder.Build(VerilogNetlistReader.Read(new StringReader(netlist), "gate.v"), TinyDesign.Placement(), new[] { lib });
        var arcs = Arcs(g);
        Assert.Contains("g1/A>g1/Y", arcs);
        Assert.DoesNotContain("g1/B>g1/Y", arcs);
        Assert.Contains("g2/A>g2/Y", arcs);
        Assert.Contains("g2/B>g2/Y", arcs);
        Assert.Contains("l1/G>l1/Q", arcs);
        Assert.Contains("r1/CK>r1/Q", arcs);
        Assert.Contains("i1/A>i1/Y", arcs);
        // The gated clock now comes after the clock alone: its level no longer follows the latch.
        Assert.Equal(g.Levels[Array.IndexOf(g.PinNames, "g1/A")] + 1, g.Levels[Array.IndexOf(g.PinNames, "g1/Y")]);
    }
}
