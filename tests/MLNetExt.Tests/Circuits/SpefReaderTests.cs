
namespace MLNetExt.Tests.Circuits;

public sealed class SpefReaderTests
{
    private const string Small = """
        *SPEF "ieee 1481-1999"
        *DESIGN "top"
        *T_UNIT 1 NS
        *C_UNIT 1 FF
        *R_UNIT 1 KOHM
        *NAME_MAP
        *1 n1
        *2 u1
        *3 u2
        *PORTS
        a I
        *D_NET *1 2.5
        *CONN
        *I *2:ZN O *D NAND2_X1
        *I *3:A I *D INV_X1
        *P a I
        *CAP
        1 *2:ZN 1.0
        2 *3:A 1.25
        3 *3:A *9:Z 0.25
        *RES
        1 *2:ZN *3:A 0.5
        *END
        """;

    [Fact]
    public void ReadsUnitsNameMapConnectionsCapsAndResistors()
    {
        var s = SpefReader.Read(new StringReader(Small.Replace("*9:Z", "*2:A")), "top.spef");
        Assert.Equal("top", s.Name);
        Assert.Equal((1e-9, 1e-15, 1e3), (s.TimeUnitSeconds, s.CapacitanceUnitFarads, s.ResistanceUnitOhms));
        var n = s.Nets["n1"];
        Assert.Equal(2.5, n.TotalCapacitance);
        Assert.Equal(new (string, string, string?)[] { ("u1:ZN", "O", "NAND2_X1"), ("u2:A", "I", "INV_X1"), ("a", "I", null) }, n.Connections);
        Assert.Equal(new[] { ("u1:ZN", 1.0), ("u2:A", 1.25) }, n.GroundCaps);
        Assert.Equal(("u2:A", "u1:A", 0.25), Assert.Single(n.CouplingCaps));
        Assert.Equal(("u1:ZN", "u2:A", 0.5), Assert.Single(n.Resistors));
    }

    [Fact]
    public void UnknownNameMapEntryAndBadNumbersNameTheLine()
    {
        var e = Assert.Throws<SpefFormatException>(() => SpefReader.Read(new StringReader(Small), "top.spef"));
        Assert.StartsWith("top.spef:20:", e.Message);
        Assert.Contains("*9 is not in the *NAME_MAP", e.Message);
        e = Assert.Throws<SpefFormatException>(() => SpefReader.Read(new StringReader(Small.Replace("0.5", "half").Replace("*9:Z", "*2:A")), "top.spef"));
        Assert.StartsWith("top.spef:22:", e.Message);
        e = Assert.Throws<SpefFormatException>(() => SpefReader.Read(new StringReader(Small.Replace("*END", "").Replace("*9:Z", "*2:A")), "top.spef"));
        Assert.Contains("has no *END", e.Message);
    }

    [SharedCircuitsFact]
    public void ReadsTheSharedNangate45GcdSpef()
    {
        var s = SpefReader.Read(Path.Combine(SharedData.Circuits, "circuitops", "nangate45", "gcd", "6_final.spef.gz"));
        Assert.Equal("gcd", s.Name);
        Assert.Equal((1e-9, 1e-12), (s.TimeUnitSeconds, s.CapacitanceUnitFarads));
        var n = s.Nets["_000_"];
        Assert.Equal(0.000152612, n.TotalCapacitance, 12);
        Assert.Equal(2, n.Connections.Count);
        Assert.Equal(26.0357, Assert.Single(n.Resistors).Value, 6);
        Assert.True(s.Nets.Count > 400, $"{s.Nets.Count} nets");
    }
}
