
namespace MLNetExt.Tests.Circuits;

public sealed class CircuitOpsTablesTests
{
    [Fact]
    public void ReadsNamedColumnsQuotedFieldsAndNumbers()
    {
        var t = CsvTable.Read(new StringReader("src,tar,src_type,tar_type,is_net,arc_delay\nu1/A,u1/ZN,pin,pin,0,2.5e-11\n\"a,b\",c,pin,pin,1,-1\n"), "pin_pin_edge.csv");
        Assert.Equal(new[] { "src", "tar", "src_type", "tar_type", "is_net", "arc_delay" }, t.Columns);
        Assert.Equal(2, t.Count);
        Assert.Equal("u1/ZN", t.Text(0, "tar"));
        Assert.Equal(2.5e-11, t.Number(0, "arc_delay"));
        Assert.Equal("a,b", t.Text(1, "src"));
    }

    [Fact]
    public void BadRowsAndColumnsNameFileLineAndColumn()
    {
        var e = Assert.Throws<CircuitOpsFormatException>(() => CsvTable.Read(new StringReader("a,b\n1,2\n3\n"), "x.csv"));
        Assert.StartsWith("x.csv:3:", e.Message);
        var t = CsvTable.Read(new StringReader("a,b\n1,oops\n"), "x.csv");
        e = Assert.Throws<CircuitOpsFormatException>(() => t.Number(0, "b"));
        Assert.Equal("x.csv:2:2: column 'b': 'oops' is not a number", e.Message);
        e = Assert.Throws<CircuitOpsFormatException>(() => t.Number(0, "c"));
        Assert.Contains("no column 'c'; the columns are a, b", e.Message);
    }

    [SharedCircuitsFact]
    public void ReadsTheSharedNangate45GcdTables()
    {
        var d = CircuitOpsDesign.Read(Path.Combine(SharedData.Circuits, "circuitops", "nangate45", "gcd"));
        Assert.Equal(1279, d.Table("pin_properties")!.Count);
        Assert.Equal(1542, d.Table("pin_pin_edge")!.Count);
        Assert.Equal(491, d.Table("net_properties")!.Count);
        Assert.True(d.Table("pin_properties")!.Has("pin_slack"));
    }
}
