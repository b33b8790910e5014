using static TorchSharp.torch;

namespace MLNetExt.Tests.PreRoutGnn;

public sealed class NldmLookupTests
{
    [Fact]
    public void TensorLookupMatchesTheLibertyTableInsideAndOutsideTheAxesForEveryTableSize()
    {
        // Tables of 7×7, 5×3, 2×7 and 1×4 entries padded into one [E, 8, 49] block, read at points inside the grid and
        // beyond both ends of each axis (STA extrapolates linearly): the tensor code must agree with LibertyTable.Lookup
        // up to one axis range beyond the table, and hold the value of that bound further out.
        var random = new Random(5);
        var shapes = new[] { (7, 7), (5, 3), (2, 7), (1, 4) };
        const int points = 40, s = TimingGraph.LutSize;
        int e = shapes.Length * points;
        var axes = new float[e * 8 * TimingGraph.LutAxisWidth]; var values = new float[e * 8 * 49]; var mask = new float[e * 8 * 49];
        var slew = new float[e * 8]; var load = new float[e * 8]; var expected = new double[e * 8];
        for (int k = 0; k < e; k++)
        {
            var (n1, n2) = shapes[k / points];
            for (int t = 0; t < 8; t++)
            {
                double[] Axis(int n, double start) { var a = new double[n]; double v = start; for (int i = 0; i < n; i++) { v += 0.01 + random.NextDouble(); a[i] = v; } return a; }
                var i1 = Axis(n1, random.NextDouble()); var i2 = Axis(n2, random.NextDouble());
                var v = Enumerable.Range(0, n1 * n2).Select(_ => random.NextDouble() * 3).ToArray();
                var table = new LibertyTable(i1, i2, v);
                var (p1, p2, pv, pm) = table.Padded(s);
                int ax = (k * 8 + t) * TimingGraph.LutAxisWidth;
                axes[ax] = 1;
                for (int j = 0; j < s; j++) { axes[ax + 1 + j] = p1[j]; axes[ax + 1 + s + j] = p2[j]; }
                Array.Copy(pv, 0, values, (k * 8 + t) * 49, 49); Array.Copy(pm, 0, mask, (k * 8 + t) * 49, 49);
                // Spread from two axis ranges below the first to two beyond the last breakpoint.
                double r1 = i1[^1] - i1[0], r2 = i2[^1] - i2[0];
                double x = i1[0] - 2 * r1 + random.NextDouble() * 5 * r1, y = i2[0] - 2 * r2 + random.NextDouble() * 5 * r2;
                slew[k * 8 + t] = (float)x; load[k * 8 + t] = (float)y;
                expected[k * 8 + t] = table.Lookup(Math.Clamp(x, i1[0] - r1, i1[^1] + r1), Math.Clamp(y, i2[0] - r2, i2[^1] + r2));
            }
        }
        using var read = NldmLookup.Read(tensor(axes, new long[] { e, 8, TimingGraph.LutAxisWidth }), tensor(values, new long[] { e, 8, 49 }),
            tensor(mask, new long[] { e, 8, 49 }), tensor(slew, new long[] { e, 8 }), tensor(load, new long[] { e, 8 }));
        var got = read.data<float>().ToArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) < 2e-4 * (1 + Math.Abs(expected[i])), $"entry {i}: {got[i]} vs {expected[i]}");
    }

    [Fact]
    public void AbsentTablesReadZeroAndTheReadDelayHasAGradientWithRespectToTheInputSlew()
    {
        var axes = zeros(2, 8, TimingGraph.LutAxisWidth); var values = zeros(2, 8, 49); var mask = zeros(2, 8, 49);
        // Arc 0, table 0: delay = 1 + 2·slew + 3·load on a 2×2 grid; every other table is absent.
        axes[0, 0, 0] = tensor(1f); axes[0, 0, 1] = tensor(0f); axes[0, 0, 2] = tensor(1f); axes[0, 0, 8] = tensor(0f); axes[0, 0, 9] = tensor(1f);
        foreach (var (i, j) in new[] { (0, 0), (0, 1), (1, 0), (1, 1) })
        {
            values[0, 0, i * 7 + j] = tensor(1f + 2 * i + 3 * j);
            mask[0, 0, i * 7 + j] = tensor(1f);
        }
        var slew = full(2, 8, 0.25f).requires_grad_(true);
        var read = NldmLookup.Read(axes, values, mask, slew, full(2, 8, 0.5f));
        Assert.Equal(1 + 2 * 0.25 + 3 * 0.5, read[0, 0].item<float>(), 5);
        Assert.Equal(0f, read.abs().sum().item<float>() - read[0, 0].item<float>(), 5);
        read.sum().backward();
        Assert.Equal(2f, slew.grad![0, 0].item<float>(), 4);
    }
}
