
namespace MLNetExt.Tests.Circuits;

public sealed class VerilogNetlistTests
{
    private const string Small = """
        // a two-cell netlist
        module top (a, b, y);
          input a;
          input [1:0] b;
          output y;
          wire n1, \n2[0] ;
          (* keep *) NAND2_X1 u1 (.A1(a), .A2(b[1]), .ZN(n1));
          INV_X1 \u2/inv  ( .A(n1), .ZN(y), .EN() );
          assign \n2[0]  = b[0];
        endmodule
        """;

    [Fact]
    public void ReadsPortsBusesInstancesEscapedNamesAndAssigns()
    {
        var m = VerilogNetlistReader.Read(new StringReader(Small), "top.v");
        Assert.Equal("top", m.Name);
        Assert.Equal(new[] { "a", "b[1]", "b[0]", "y" }, m.Ports.Select(p => p.Name));
        Assert.Equal(PortDirection.Output, m.Ports[^1].Direction);
        Assert.Equal(2, m.Instances.Count);
        Assert.Equal(("NAND2_X1", "u1"), (m.Instances[0].CellType, m.Instances[0].Name));
        Assert.Equal("b[1]", m.Instances[0].Connections["A2"]);
        Assert.Equal("u2/inv", m.Instances[1].Name);
        Assert.False(m.Instances[1].Connections.ContainsKey("EN")); // unconnected pin
        Assert.Equal(8, m.Instances[1].Line);
        Assert.Equal(("n2[0]", "b[0]"), Assert.Single(m.Assigns));
    }

    [Theory]
    [InlineData("module t (a);\n input a;\n always @(a) begin end\nendmodule", "t.v:3", "behavioural")]
    [InlineData("module t (a);\n input a;\n INV u1 (a, b);\nendmodule", "t.v:3", "positional connections")]
    [InlineData("module t (a);\n input a;\n INV u1 (.A(a)\n", "t.v:4", "end of file")]
    [InlineData("module t (a);\n input a;\n", "t.v:3", "has no 'endmodule'")]
    public void MalformedNetlistsNameFileAndLine(string text, string location, string message)
    {
        var e = Assert.Throws<NetlistFormatException>(() => VerilogNetlistReader.Read(new StringReader(text), "t.v"));
        Assert.StartsWith(location, e.Message);
        Assert.Contains(message, e.Message);
    }

    [SharedCircuitsFact]
    public void ReadsTheSharedNangate45GcdNetlistFromItsTarGz()
    {
        var m = VerilogNetlistReader.Read(Path.Combine(SharedData.Circuits, "circuitops", "nangate45", "gcd", "6_final.v.gz"));
        Assert.Equal("gcd", m.Name);
        Assert.Equal(1 + 1 + 1 + 1 + 1 + 1 + 32 + 16, m.Ports.Count); // clk, req_rdy, req_val, reset, resp_rdy, resp_val, req_msg[32], resp_msg[16]
        Assert.True(m.Instances.Count > 300, $"{m.Instances.Count} instances");
        Assert.All(m.Instances, i => Assert.False(string.IsNullOrEmpty(i.CellType)));
    }
}
