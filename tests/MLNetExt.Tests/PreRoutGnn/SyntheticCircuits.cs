using System.Globalization;
using System.Text;

namespace MLNetExt.Tests.PreRoutGnn;

/// <summary>
/// Random combinational circuits of INV/NAND2 gates on a small NLDM library, placed at random, labelled by a minimal
/// static timing analysis written here (NLDM lookups, wire delay proportional to distance). Gives tests real
/// LUT-driven timing without OpenSTA or shared data.
/// </summary>
internal static class SyntheticCircuits
{
    public const string Liberty = """
        library (synth) {
          delay_model : table_lookup;
          time_unit : "1ns";
          capacitive_load_unit (1, ff);
          lu_table_template (t3x3) { variable_1 : input_net_transition; variable_2 : total_output_net_capacitance; index_1 ("0.02, 0.1, 0.4"); index_2 ("1, 4, 16"); }
          cell (INV) { area : 1;
            pin (A) { direction : input; capacitance : 1.0; }
            pin (Y) { direction : output; function : "!A";
              timing () { related_pin : "A"; timing_sense : negative_unate;
                cell_rise (t3x3) { values ("0.02, 0.05, 0.15", "0.04, 0.07, 0.18", "0.09, 0.12, 0.25"); }
                cell_fall (t3x3) { values ("0.015, 0.04, 0.12", "0.03, 0.06, 0.15", "0.08, 0.10, 0.22"); }
                rise_transition (t3x3) { values ("0.02, 0.06, 0.2", "0.03, 0.07, 0.21", "0.06, 0.1, 0.25"); }
                fall_transition (t3x3) { values ("0.015, 0.05, 0.17", "0.025, 0.06, 0.18", "0.05, 0.09, 0.22"); } } } }
          cell (NAND2) { area : 2;
            pin (A) { direction : input; capacitance : 1.5; }
            pin (B) { direction : input; capacitance : 1.4; }
            pin (Y) { direction : output; function : "!(A&B)";
              timing () { related_pin : "A"; timing_sense : negative_unate;
                cell_rise (t3x3) { values ("0.03, 0.07, 0.2", "0.05, 0.09, 0.23", "0.11, 0.15, 0.3"); }
                cell_fall (t3x3) { values ("0.025, 0.06, 0.17", "0.04, 0.08, 0.2", "0.1, 0.13, 0.27"); }
                rise_transition (t3x3) { values ("0.03, 0.08, 0.26", "0.04, 0.09, 0.27", "0.07, 0.12, 0.3"); }
                fall_transition (t3x3) { values ("0.02, 0.07, 0.22", "0.03, 0.08, 0.23", "0.06, 0.11, 0.27"); } }
              timing () { related_pin : "B"; timing_sense : negative_unate;
                cell_rise (t3x3) { values ("0.035, 0.08, 0.22", "0.055, 0.1, 0.25", "0.12, 0.16, 0.32"); }
                cell_fall (t3x3) { values ("0.03, 0.065, 0.18", "0.045, 0.085, 0.21", "0.11, 0.14, 0.28"); }
                rise_transition (t3x3) { values ("0.03, 0.08, 0.26", "0.04, 0.09, 0.27", "0.07, 0.12, 0.3"); }
                fall_transition (t3x3) { values ("0.02, 0.07, 0.22", "0.03, 0.08, 0.23", "0.06, 0.11, 0.27"); } } } }
        }
        """;

    public static LibertyLibrary Library() => LibertyLibrary.From(LibertyParser.Parse(new StringReader(Liberty), "synth.lib"), "synth.lib");

    /// <summary>A labelled random circuit of <paramref name="gates"/> gates (outputs: the last 4 gates; required time 2 ns).</summary>
    /// <param name="seed">Random seed.</param>
    /// <param name="gates">Number of gates.</param>
    /// <param name="name">Design name.</param>
    /// <param name="wireCapacitanceFfPerMicron">Wire capacitance the labelling STA adds to each driver's load per µm of
    /// Manhattan distance to each sink (0: pin capacitances only).</param>
    /// <param name="wireDelayNsPerMicron">Net delay per µm of Manhattan distance (the sink's slew grows by half of it).</param>
    public static TimingGraph Generate(int seed, int gates, string name = "synth", double wireCapacitanceFfPerMicron = 0, double wireDelayNsPerMicron = 0.002)
    {
        var rng = new Random(seed);
        var lib = Library();
        var v = new StringBuilder($"module {name} (");
        int inputs = 4;
        var ports = Enumerable.Range(0, inputs).Select(i => $"i{i}").Concat(Enumerable.Range(0, 4).Select(i => $"o{i}")).ToList();
        v.Append(string.Join(", ", ports)).AppendLine(");");
        foreach (var p in ports) v.AppendLine($"  {(p[0] == 'i' ? "input" : "output")} {p};");
        var signals = Enumerable.Range(0, inputs).Select(i => $"i{i}").ToList();
        var def = new StringBuilder($"VERSION 5.8 ;\nDESIGN {name} ;\nUNITS DISTANCE MICRONS 1000 ;\nDIEAREA ( 0 0 ) ( 100000 100000 ) ;\nCOMPONENTS {gates} ;\n");
        for (int g = 0; g < gates; g++)
        {
            bool nand = rng.NextDouble() < 0.6;
            // Prefer recent signals so the circuit gets deep, not just wide.
            string Pick() => signals[Math.Max(0, signals.Count - 1 - (int)Math.Floor(-Math.Log(1 - rng.NextDouble()) * 4))];
            string output = g >= gates - 4 ? $"o{g - (gates - 4)}" : $"n{g}";
            if (output[0] == 'n') v.AppendLine($"  wire {output};");
            v.AppendLine(nand ? $"  NAND2 g{g} (.A({Pick()}), .B({Pick()}), .Y({output}));" : $"  INV g{g} (.A({Pick()}), .Y({output}));");
            if (output[0] == 'n') signals.Add(output);
            def.AppendLine(CultureInfo.InvariantCulture, $"  - g{g} {(nand ? "NAND2" : "INV")} + PLACED ( {rng.Next(0, 100000)} {rng.Next(0, 100000)} ) N ;");
        }
        v.AppendLine("endmodule");
        def.AppendLine("END COMPONENTS\nPINS 8 ;");
        for (int i = 0; i < 8; i++)
            def.AppendLine(CultureInfo.InvariantCulture, $"  - {ports[i]} + NET {ports[i]} + DIRECTION {(i < 4 ? "INPUT" : "OUTPUT")} + USE SIGNAL + PLACED ( {(i < 4 ? 0 : 100000)} {rng.Next(0, 100000)} ) N ;");
        def.AppendLine("END PINS\nEND DESIGN");
        var netlist = VerilogNetlistReader.Read(new StringReader(v.ToString()), name + ".v");
        var placement = DefReader.Read(new StringReader(def.ToString()), name + ".def");
        var unlabelled = TimingGraphBuilder.Build(netlist, placement, new[] { lib }, technology: "synth");
        return TimingGraphBuilder.Build(netlist, placement, new[] { lib }, labels: Time(unlabelled, lib, wireCapacitanceFfPerMicron, wireDelayNsPerMicron), technology: "synth");
    }

    // Minimal STA over the built graph: PIs arrive at 0 with 0.05 ns slew; a net adds 0.002 ns (by default) per µm of Manhattan
    // distance; a cell output takes the worst arc (NLDM lookup at the input slew and the summed sink capacitance, plus the wire's
    // when asked).
    private static StaTimingReport Time(TimingGraph g, LibertyLibrary lib, double wireCapacitanceFfPerMicron, double wireDelayNsPerMicron)
    {
        int n = g.NodeCount;
        var at = new double[n, 2]; var slew = new double[n, 2];
        for (int i = 0; i < n; i++) for (int c = 0; c < 2; c++) { at[i, c] = 0; slew[i, c] = 0.05; }
        var load = new double[n];
        for (int e = 0; e < g.NetSource.Length; e++)
            load[g.NetSource[e]] += g.NodeFeatures[g.NetTarget[e] * TimingGraph.NodeFeatureCount + 6] * 1000
                                    + wireCapacitanceFfPerMicron * (Math.Abs(g.NetEdgeFeatures[2 * e]) + Math.Abs(g.NetEdgeFeatures[2 * e + 1]));
        var order = Enumerable.Range(0, n).OrderBy(i => g.Levels[i]).ToList();
        var netIn = new Dictionary<int, int>(); for (int e = 0; e < g.NetTarget.Length; e++) netIn[g.NetTarget[e]] = e;
        var cellIn = Enumerable.Range(0, g.CellTarget.Length).ToLookup(e => g.CellTarget[e]);
        var edges = new List<StaEdgeTiming>();
        foreach (var i in order)
        {
            if (netIn.TryGetValue(i, out var e))
            {
                int d = g.NetSource[e];
                double wire = wireDelayNsPerMicron * (Math.Abs(g.NetEdgeFeatures[2 * e]) + Math.Abs(g.NetEdgeFeatures[2 * e + 1]));
                for (int c = 0; c < 2; c++) { at[i, c] = at[d, c] + wire; slew[i, c] = slew[d, c] + wire / 2; }
                edges.Add(new StaEdgeTiming(g.PinNames[d], g.PinNames[i], "wire", new[] { (float)wire, (float)wire, (float)wire, (float)wire }));
            }
            foreach (var arc in cellIn[i])
            {
                int s = g.CellSource[arc];
                var pin = g.PinNames[s].Split('/')[1];
                var cell = lib.Cells[cellIn[i].Count() == 2 ? "NAND2" : "INV"]; // a NAND2 output has two arcs into it
                var timing = cell.Pins["Y"].Timing.First(t => t.RelatedPin == pin);
                // Negative unate: output rise follows input fall.
                double rise = timing.Table("cell_rise")!.Lookup(slew[s, 1], load[i]), fall = timing.Table("cell_fall")!.Lookup(slew[s, 0], load[i]);
                at[i, 0] = Math.Max(at[i, 0], at[s, 1] + rise); at[i, 1] = Math.Max(at[i, 1], at[s, 0] + fall);
                slew[i, 0] = Math.Max(slew[i, 0], timing.Table("rise_transition")!.Lookup(slew[s, 1], load[i]));
                slew[i, 1] = Math.Max(slew[i, 1], timing.Table("fall_transition")!.Lookup(slew[s, 0], load[i]));
                edges.Add(new StaEdgeTiming(g.PinNames[s], g.PinNames[i], "combinational", new[] { (float)rise, (float)fall, (float)rise, (float)fall }));
            }
        }
        var pins = new Dictionary<string, StaPinTiming>();
        for (int i = 0; i < n; i++)
        {
            bool output = g.NodeFeatures[i * TimingGraph.NodeFeatureCount] == 1 && g.NodeFeatures[i * TimingGraph.NodeFeatureCount + 1] == 0;
            float R(int c) => (float)at[i, c];
            float S(int c) => (float)slew[i, c];
            var slack = output ? new[] { float.NaN, float.NaN, (float)(2 - at[i, 0]), (float)(2 - at[i, 1]) } : new[] { float.NaN, float.NaN, float.NaN, float.NaN };
            pins[g.PinNames[i]] = new StaPinTiming(new[] { R(0), R(1), R(0), R(1) }, new[] { S(0), S(1), S(0), S(1) }, slack, false);
        }
        return new StaTimingReport { Pins = pins, Edges = edges, Version = "synthetic" };
    }
}
