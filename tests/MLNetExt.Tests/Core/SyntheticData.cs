using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetExt.Tests.Core;

/// <summary>A labelled row with a float feature vector.</summary>
public sealed class VectorRow
{
    [VectorType(2)] public float[] Features { get; set; } = Array.Empty<float>();
    public string Label { get; set; } = "";
}

/// <summary>A regression row.</summary>
public sealed class RegressionRow
{
    [VectorType(3)] public float[] Features { get; set; } = Array.Empty<float>();
    public float Label { get; set; }
}

/// <summary>Generated data sets that a linear model cannot fit but a small MLP can.</summary>
public static class SyntheticData
{
    /// <summary>Three concentric rings, one class per ring (a linear classifier stays near 33–50 %).</summary>
    public static List<VectorRow> Rings(int rows, int seed)
    {
        var rng = new Random(seed);
        var names = new[] { "inner", "middle", "outer" };
        var list = new List<VectorRow>(rows);
        for (int i = 0; i < rows; i++)
        {
            int c = rng.Next(3);
            double r = 0.5 + c + rng.NextDouble() * 0.6, a = rng.NextDouble() * 2 * Math.PI;
            list.Add(new VectorRow { Features = new[] { (float)(r * Math.Cos(a)), (float)(r * Math.Sin(a)) }, Label = names[c] });
        }
        return list;
    }

    /// <summary>y = 2·sin(2·x0) + 2·x1² − x2 with small noise.</summary>
    public static List<RegressionRow> SmoothFunction(int rows, int seed)
    {
        var rng = new Random(seed);
        var list = new List<RegressionRow>(rows);
        for (int i = 0; i < rows; i++)
        {
            var x = new[] { (float)(rng.NextDouble() * 4 - 2), (float)(rng.NextDouble() * 2 - 1), (float)(rng.NextDouble() * 2 - 1) };
            list.Add(new RegressionRow { Features = x, Label = (float)(2 * Math.Sin(2 * x[0]) + 2 * x[1] * x[1] - x[2] + rng.NextDouble() * 0.05) });
        }
        return list;
    }

    /// <summary>Rings as an IDataView with a key-typed Label.</summary>
    public static IDataView RingsView(MLContext ml, int rows, int seed)
        => ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rings(rows, seed)))
            .Transform(ml.Data.LoadFromEnumerable(Rings(rows, seed)));

    /// <summary>Reads a float-vector column of a view into arrays.</summary>
    public static List<float[]> Column(IDataView view, string name)
        => view.GetColumn<VBuffer<float>>(name).Select(v => v.DenseValues().ToArray()).ToList();

    /// <summary>Row-major matrix of the feature column.</summary>
    public static float[] Flatten(IEnumerable<float[]> rows) => rows.SelectMany(r => r).ToArray();
}
