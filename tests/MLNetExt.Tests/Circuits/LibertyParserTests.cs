
namespace MLNetExt.Tests.Circuits;

public sealed class LibertyParserTests
{
    private const string Small = """
        /* a tiny library */
        library (tiny) {
          time_unit : "1ns";
          capacitive_load_unit (1, ff);
          lu_table_template (t2x3) {
            variable_1 : input_net_transition;
            variable_2 : total_output_net_capacitance;
            index_1 ("0.1, 0.2");
            index_2 ("1, 2, 4");
          }
          cell (INV) {
            area : 1.5;
            pin (A) { direction : input; capacitance : 0.9; rise_capacitance : 1.0; fall_capacitance : 0.8; }
            pin (Y) {
              direction : output;
              function : "!A";
              timing () {
                related_pin : "A";
                timing_sense : negative_unate;
                cell_rise (t2x3) {
                  values ("1, 2, 4", \
                          "2, 3, 5");
                }
                cell_fall (t2x3) {
                  index_1 ("0.1, 0.3");
                  values ("1, 1, 1", "3, 3, 3");
                }
              }
            }
          }
          cell (DFF) {
            area : 4;
            ff (IQ, IQN) { next_state : "D"; clocked_on : "CK"; }
            pin (CK) { direction : input; clock : true; capacitance : 1.1; }
            pin (D) { direction : input; capacitance : 1.2; }
            pin (Q) { direction : output;
              timing () { related_pin : "CK"; timing_type : rising_edge; cell_rise (scalar) { values ("0.25"); } }
            }
          }
        }
        """;

    private static LibertyLibrary Library() => LibertyLibrary.From(LibertyParser.Parse(new StringReader(Small), "tiny.lib"), "tiny.lib");

    [Fact]
    public void ReadsUnitsCellsPinsAndTablesWithExactValues()
    {
        var lib = Library();
        Assert.Equal("tiny", lib.Name);
        Assert.Equal(1e-9, lib.TimeUnitSeconds, 1e-20);
        Assert.Equal(1e-15, lib.CapacitanceUnitFarads, 1e-25);
        var inv = lib.Cells["INV"];
        Assert.Equal(1.5, inv.Area);
        Assert.False(inv.IsSequential);
        Assert.Equal((0.9, 1.0, 0.8), (inv.Pins["A"].Capacitance, inv.Pins["A"].RiseCapacitance, inv.Pins["A"].FallCapacitance));
        var arc = Assert.Single(inv.Pins["Y"].Timing);
        Assert.Equal(("A", "combinational", "negative_unate"), (arc.RelatedPin, arc.TimingType, arc.TimingSense));
        var rise = arc.Table("cell_rise")!;
        Assert.Equal(new[] { 0.1, 0.2 }, rise.Index1);   // from the template
        Assert.Equal(new[] { 1.0, 2.0, 4.0 }, rise.Index2);
        Assert.Equal(new[] { 1.0, 2, 4, 2, 3, 5 }, rise.Values);
        Assert.Equal(new[] { 0.1, 0.3 }, arc.Table("cell_fall")!.Index1); // the table's own index overrides the template
        var dff = lib.Cells["DFF"];
        Assert.True(dff.IsSequential);
        Assert.True(dff.Pins["CK"].IsClock);
        var clockToQ = Assert.Single(dff.Pins["Q"].Timing);
        Assert.Equal("rising_edge", clockToQ.TimingType);
        Assert.Equal(0.25, clockToQ.Table("cell_rise")!.Lookup(0.5, 10));
    }

    [Fact]
    public void LookupInterpolatesAndExtrapolatesLinearly_AndPaddingMarksRealEntries()
    {
        var rise = Library().Cells["INV"].Pins["Y"].Timing[0].Table("cell_rise")!;
        Assert.Equal(1.0, rise.Lookup(0.1, 1), 12);
        Assert.Equal(2.0, rise.Lookup(0.15, 1.5), 12);   // centre of the first cell: (1+2+2+3)/4
        Assert.Equal(3.0, rise.Lookup(0.1, 3), 12);      // on the second segment of index_2
        Assert.Equal(7.0, rise.Lookup(0.2, 6), 12);      // extrapolation beyond load 4: 5 + (6−4)·(5−3)/(4−2)
        var (i1, i2, values, mask) = rise.Padded(7);
        Assert.Equal(new float[] { 0.1f, 0.2f, 0, 0, 0, 0, 0 }, i1);
        Assert.Equal(new float[] { 1, 2, 4, 0, 0, 0, 0 }, i2);
        Assert.Equal(6, mask.Sum());
        Assert.Equal(5f, values[1 * 7 + 2]);
        Assert.Equal(0f, mask[2 * 7 + 0]);
    }

    [Theory]
    [InlineData("library (x) { cell (A) { area : 1; }", "tiny.lib:1", "'}' is missing")]
    [InlineData("library (x) {\n cell (A) {\n  area : big;\n }\n}", "tiny.lib:2", "area: 'big' is not a number")]
    [InlineData("library (x) {\n cell (A) {\n pin (Y) { timing () { related_pin : \"A\";\n cell_rise (t) { index_1 (\"1, 2\"); values (\"1, 2, 3\"); } } }\n }\n}", "tiny.lib:4", "has 3 values for a 2×1 index")]
    [InlineData("library (x) {\n /* never closed", "tiny.lib:2", "unterminated /* comment")]
    public void MalformedInputNamesFileAndLine(string text, string location, string message)
    {
        var e = Assert.Throws<LibertyFormatException>(() => LibertyLibrary.From(LibertyParser.Parse(new StringReader(text), "tiny.lib"), "tiny.lib"));
        Assert.StartsWith(location, e.Message);
        Assert.Contains(message, e.Message);
    }

    [SharedCircuitsFact]
    public void ReadsTheSharedNangate45Library()
    {
        var path = Path.Combine(SharedData.Circuits, "liberty", "nangate45_typ.lib.gz");
        var lib = LibertyParser.ReadLibrary(path);
        Assert.True(lib.Cells.Count > 100, $"{lib.Cells.Count} cells");
        var and2 = lib.Cells["AND2_X1"];
        Assert.Equal(1.064, and2.Area, 9);
        Assert.Equal(0.918145, and2.Pins["A1"].Capacitance, 9);
        var arc = and2.Pins["ZN"].Timing.First(a => a.RelatedPin == "A1");
        var fall = arc.Table("cell_fall")!;
        Assert.Equal(7, fall.Index1.Length);
        Assert.Equal(0.0217822, fall.Values[0], 9);
        Assert.Equal(0.163872, fall.Values[48], 9);
        Assert.Equal(1e-9, lib.TimeUnitSeconds, 1e-20);
        Assert.Equal(1e-15, lib.CapacitanceUnitFarads, 1e-25);
    }
}

/// <summary>A fact skipped, with the reason, when ../shared/data/circuits is absent (it is not part of the repository).</summary>
public sealed class SharedCircuitsFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the shared data is missing.</summary>
    public SharedCircuitsFactAttribute()
    {
        if (!Directory.Exists(SharedData.Circuits))
            Skip = $"Shared circuit data not found at {SharedData.Circuits}: it exists beside the project on development machines and in CI only.";
    }
}

/// <summary>Where the shared (not committed) circuit data lives: ../shared/data/circuits beside the repository.</summary>
public static class SharedData
{
    /// <summary>The circuits folder (may not exist).</summary>
    public static string Circuits => MLNetExt.Fuzz.ReaderFuzzer.SharedCircuits(AppContext.BaseDirectory);
}
