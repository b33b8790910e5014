using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace MLNetExt.Tests.Core;

public class FlatParametersTests
{
    [Fact]
    public void ReadAndWriteUseTheViewsOwnElementsWhenItStartsInsideItsStorage()
    {
        using var matrix = arange(0, 12, dtype: ScalarType.Float32).reshape(3, 4);
        using var row = matrix[1]; // contiguous view at storage offset 4
        var read = new float[4];
        FlatParameters.Read(row, read);
        Assert.Equal(new[] { 4f, 5f, 6f, 7f }, read);

        FlatParameters.Write(row, new[] { -1f, -2f, -3f, -4f });
        var all = matrix.data<float>().ToArray();
        Assert.Equal(new[] { 0f, 1f, 2f, 3f, -1f, -2f, -3f, -4f, 8f, 9f, 10f, 11f }, all);
    }

    [Fact]
    public void NonContiguousTensorsAreStagedAndStillReadInLogicalOrder()
    {
        using var matrix = arange(0, 6, dtype: ScalarType.Float32).reshape(2, 3);
        using var transposed = matrix.t();
        var read = new float[6];
        FlatParameters.Read(transposed, read);
        Assert.Equal(new[] { 0f, 3f, 1f, 4f, 2f, 5f }, read);
    }

    [Fact]
    public void ATensorOfAnotherElementTypeIsRefusedRatherThanMisread()
    {
        using var doubles = ones(4, dtype: ScalarType.Float64);
        var error = Assert.Throws<ArgumentException>(() => FlatParameters.Read(doubles, new float[4]));
        Assert.Contains("Float64", error.Message);
        Assert.Throws<ArgumentException>(() => FlatParameters.Write(doubles, new float[4]));
    }

    [Fact]
    public void ModuleParametersRoundTripThroughTheFlatVector()
    {
        using var layer = nn.Linear(3, 2);
        var parameters = layer.parameters().ToList();
        var flat = FlatParameters.Get(parameters);
        Assert.Equal(8, flat.Length);
        var changed = flat.Select(v => v * 2 + 1).ToArray();
        FlatParameters.CopyFrom(parameters, changed);
        Assert.Equal(changed, FlatParameters.Get(parameters));
        Assert.Equal(changed[0], layer.weight![0, 0].item<float>());
    }
}
