
namespace MLNetExt.Tests.Circuits;

public sealed class DefReaderTests
{
    private const string Small = """
        VERSION 5.8 ;
        DESIGN top ;
        UNITS DISTANCE MICRONS 2000 ;
        DIEAREA ( 0 0 ) ( 20000 10000 ) ;
        VIAS 1 ;
          - via1 + RECT metal1 ( -10 -10 ) ( 10 10 ) ;
        END VIAS
        COMPONENTS 2 ;
          - u1 NAND2_X1 + SOURCE DIST + PLACED ( 1000 2000 ) N ;
          - u2 INV_X1 + FIXED ( 3000 2000 ) FS ;
        END COMPONENTS
        PINS 1 ;
          - a + NET a + DIRECTION INPUT + USE SIGNAL
            + PORT + LAYER metal5 ( -140 -140 ) ( 140 140 )
            + PLACED ( 0 5000 ) N ;
        END PINS
        NETS 1 ;
          - n1 ( u1 ZN ) ( u2 A ) ( PIN a ) + USE SIGNAL
            + ROUTED metal2 ( 1000 2000 ) ( * 4000 ) ( 3000 * )
            NEW metal1 ( 3000 4000 ) via1 ;
        END NETS
        END DESIGN
        """;

    [Fact]
    public void ReadsUnitsDieComponentsPinsNetsAndRoutes()
    {
        var d = DefReader.Read(new StringReader(Small), "top.def");
        Assert.Equal("top", d.Name);
        Assert.Equal(2000, d.DatabaseUnitsPerMicron);
        Assert.Equal((0L, 0L, 20000L, 10000L), d.DieArea);
        Assert.Equal(new DefComponent("u1", "NAND2_X1", 1000, 2000, "N", true), d.Components["u1"]);
        Assert.Equal(("FS", 3000L), (d.Components["u2"].Orientation, d.Components["u2"].X));
        Assert.Equal(new DefPin("a", "a", "INPUT", 0, 5000, true), d.Pins["a"]);
        var net = d.Nets["n1"];
        Assert.Equal(new[] { ("u1", "ZN"), ("u2", "A"), ("PIN", "a") }, net.Connections);
        Assert.Equal(new[]
        {
            new DefRouteSegment("metal2", 1000, 2000, 1000, 4000, null),
            new DefRouteSegment("metal2", 1000, 4000, 3000, 4000, null),
            new DefRouteSegment("metal1", 3000, 4000, 3000, 4000, "via1", Statement: 1),
        }, net.Routes);
    }

    [Theory]
    [InlineData("DESIGN t ;\nUNITS DISTANCE MICRONS many ;\nEND DESIGN", "t.def:2", "UNITS must be")]
    [InlineData("DESIGN t ;\nUNITS DISTANCE MICRONS 1000 ;\nCOMPONENTS 1 ;\n  - u1 INV + PLACED ( 1 x ) N ;\nEND COMPONENTS\nEND DESIGN", "t.def:4", "'x' is not an integer")]
    [InlineData("DESIGN t ;\nUNITS DISTANCE MICRONS 1000 ;\nCOMPONENTS 1 ;\n  u1 INV ;\nEND COMPONENTS", "t.def:4", "expected '-'")]
    public void MalformedDefNamesFileAndLine(string text, string location, string message)
    {
        var e = Assert.Throws<DefFormatException>(() => DefReader.Read(new StringReader(text), "t.def"));
        Assert.StartsWith(location, e.Message);
        Assert.Contains(message, e.Message);
    }

    [SharedCircuitsFact]
    public void ReadsTheSharedNangate45GcdDef()
    {
        var d = DefReader.Read(Path.Combine(SharedData.Circuits, "circuitops", "nangate45", "gcd", "6_final.def.gz"));
        Assert.Equal("gcd", d.Name);
        Assert.Equal(2000, d.DatabaseUnitsPerMicron);
        Assert.Equal((0L, 0L, 65480L, 65480L), d.DieArea);
        Assert.Equal(752, d.Components.Count);
        Assert.Equal(54, d.Pins.Count);
        Assert.Equal(491, d.Nets.Count);
        Assert.Equal(new[] { ("_672_", "D"), ("_504_", "ZN") }, d.Nets["_000_"].Connections);
        Assert.Contains(new DefRouteSegment("metal3", 52630, 55580, 53770, 55580, null), d.Nets["_000_"].Routes);
    }
}
